package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestOriginServesAndCounts(t *testing.T) {
	srv := httptest.NewServer(newOrigin())
	defer srv.Close()
	ceil := httptest.NewServer(newCeiling())
	defer ceil.Close()

	for _, size := range []int{0, 1, 1024, 100 << 10} {
		resp, body := get(t, srv.URL+"/obj/"+itoa(size)+"/a")
		if resp.StatusCode != 200 || len(body) != size {
			t.Fatalf("size %d: status %d, %d bytes", size, resp.StatusCode, len(body))
		}
		if got := resp.Header.Get("Cache-Control"); got != "public, max-age=3600" {
			t.Errorf("Cache-Control = %q", got)
		}
		_, cbody := get(t, ceil.URL+"/obj/"+itoa(size)+"/other-name")
		if string(cbody) != string(body) {
			t.Errorf("size %d: ceiling and origin bodies differ", size)
		}
	}
	get(t, srv.URL+"/obj/10/a?delay=1")
	_, b := get(t, srv.URL+"/_stats?path=/obj/10/a")
	var st Stats
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Total: 5, Path: 1}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	for _, bad := range []string{"/obj/x/a", "/other", "/obj/99999999999/a"} {
		if resp, _ := get(t, srv.URL+bad); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", bad, resp.StatusCode)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
