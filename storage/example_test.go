package storage_test

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"edged/storage"
)

func Example() {
	dir, err := os.MkdirTemp("", "edged-storage-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := storage.Open(storage.Options{Dir: dir, MemoryBytes: 64 << 20, DiskBytes: 1 << 30})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	s.Set(&storage.Entry{
		Key:    "https://example.com/logo.svg",
		Status: http.StatusOK,
		Header: http.Header{"Content-Type": {"image/svg+xml"}},
		Body:   []byte("<svg/>"),
	})
	e, tier, err := s.Get("https://example.com/logo.svg") // readable at once
	fmt.Println(e.Status, string(e.Body), tier, err)

	n, err := s.DeletePrefix("https://example.com/")
	fmt.Println(n, err)
	_, _, err = s.Get("https://example.com/logo.svg")
	fmt.Println(err)
	// Output:
	// 200 <svg/> memory <nil>
	// 1 <nil>
	// storage: not found
}

func ExampleStore_Purge() {
	dir, err := os.MkdirTemp("", "edged-storage-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := storage.Open(storage.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	since := s.Generation() // a fetch begins
	// It ends; the response's age is not known (zero produced time).
	s.SetFetchedAt(&storage.Entry{Key: "http://www.example.com/a", Status: 200, Tags: []string{"product-1"}}, since, time.Time{})
	n, err := s.Purge(storage.Purge{Tags: []string{"product-1"}, Soft: true, Seq: 42})
	e, _, _ := s.Get("http://www.example.com/a")
	seq, _ := s.AppliedSeq()
	fmt.Println(n, err, e.Stale, seq)
	// Output: 1 <nil> true 42
}
