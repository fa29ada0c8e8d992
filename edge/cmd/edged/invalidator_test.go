package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"edged/purge"
	"edged/storage"
)

func TestStoreInvalidator(t *testing.T) {
	store, err := storage.Open(storage.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	put := func(key string, tags ...string) {
		store.Set(&storage.Entry{Key: key, Status: 200, Header: http.Header{}, Body: []byte(key),
			RequestTime: time.Now(), ResponseTime: time.Now(), Tags: tags})
	}
	reset := func() {
		for _, k := range []string{"http://a.example/x", "https://a.example/x", "http://a.example/x\x00gzip",
			"http://a.example/xy", "http://a.example/dir/1", "http://a.example:8080/p", "http://a.example.evil/p", "http://b.example/t"} {
			put(k)
		}
		put("http://b.example/tagged", "release-1")
	}
	inv := storeInvalidator{store: store}
	for _, tt := range []struct {
		name string
		req  purge.Request
		gone []string
		kept []string
	}{
		{"url, both schemes and variants", purge.Request{URLs: []string{"HTTP://A.example:80/x"}},
			[]string{"http://a.example/x", "https://a.example/x", "http://a.example/x\x00gzip"}, []string{"http://a.example/xy"}},
		{"prefix", purge.Request{Prefixes: []string{"http://a.example/dir/"}},
			[]string{"http://a.example/dir/1"}, []string{"http://a.example/x"}},
		{"host", purge.Request{Hosts: []string{"a.example"}},
			[]string{"http://a.example/x", "http://a.example:8080/p"}, []string{"http://a.example.evil/p", "http://b.example/t"}},
		{"tag", purge.Request{Tags: []string{"release-1"}},
			[]string{"http://b.example/tagged"}, []string{"http://b.example/t"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reset()
			store.Flush()
			if _, err := inv.Invalidate(context.Background(), tt.req, 7); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.gone {
				if _, _, err := store.Get(k); err == nil {
					t.Errorf("%q survived", k)
				}
			}
			for _, k := range tt.kept {
				if _, _, err := store.Get(k); err != nil {
					t.Errorf("%q was purged: %v", k, err)
				}
			}
			if seq, err := inv.Applied(); err != nil || seq != 7 {
				t.Errorf("Applied = %d, %v; want 7", seq, err)
			}
		})
	}
	// A URL that is no cache key is refused by Check (the API's 400) and
	// skipped by Invalidate, which applies the rest and records the
	// sequence: an error there would be retried forever and stop the bus.
	reset()
	store.Flush()
	bad := purge.Request{URLs: []string{"http://bad host/", "http://a.example/x?q=%zz", "http://a.example/x"}}
	if err := inv.Check(bad); err == nil || !strings.Contains(err.Error(), "urls[0]") || !strings.Contains(err.Error(), "urls[1]") {
		t.Errorf("Check = %v, want both malformed URLs named", err)
	}
	if _, err := inv.Invalidate(context.Background(), bad, 8); err != nil {
		t.Fatalf("Invalidate of a request with malformed URLs: %v", err)
	}
	if _, _, err := store.Get("http://a.example/x"); err == nil {
		t.Error("the good URL beside malformed ones was not purged")
	}
	if seq, err := inv.Applied(); err != nil || seq != 8 {
		t.Errorf("Applied = %d, %v; want 8", seq, err)
	}
	// A soft purge gives the objects its time (stale-while-revalidate and
	// stale-if-error count from it); one that stands in for missed purges
	// gives none, so nothing it marks is served stale.
	for _, standIn := range []bool{false, true} {
		reset()
		store.Flush()
		if _, err := inv.Invalidate(context.Background(), purge.Request{URLs: []string{"http://a.example/x"}, Soft: true, StandIn: standIn}, 9); err != nil {
			t.Fatal(err)
		}
		e, _, err := store.Get("http://a.example/x")
		if err != nil || !e.Stale || e.StaleAt.IsZero() != standIn {
			t.Errorf("stand-in %v: %+v, %v; want stale, with a time unless standing in", standIn, e, err)
		}
	}
}
