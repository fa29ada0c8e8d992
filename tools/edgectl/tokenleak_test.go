package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestTokenNeverSentToAPublicListener points purge and inspect at a real
// edged's public listener, the mistake of an operator who gave the public
// address for the admin one: edgectl must not send the purge token there,
// where the edge forwards it to the origin. It refuses, naming the admin
// listener, and the origin never sees the token.
func TestTokenNeverSentToAPublicListener(t *testing.T) {
	var mu sync.Mutex
	var seen []string // every Authorization value the origin got
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Values("Authorization")...)
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, `{"proof":"v1=00","id":"x","seq":1,"count":1,"url":"http://a.test/","entries":[]}`)
	}))
	t.Cleanup(origin.Close)
	public, admin := runRealEdged(t, origin.URL)
	for _, args := range [][]string{
		{"purge", "--url", "http://www.example.test/a"},
		{"inspect", "http://www.example.test/a"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, env(map[string]string{"EDGED_ADMIN": public, "EDGED_PURGE_TOKEN": "e2e-token"}), &stdout, &stderr)
		if code != exitFail || !strings.Contains(stderr.String(), "admin listener") {
			t.Errorf("%q against the public listener: exit %d, stdout %q, stderr %q; want 1 and a hint to use the admin listener", args, code, stdout.String(), stderr.String())
		}
	}
	mu.Lock()
	for _, v := range seen {
		if strings.Contains(v, "e2e-token") {
			t.Errorf("the origin got the purge token: Authorization %q", v)
		}
	}
	mu.Unlock()
	// The admin listener itself still takes the purge.
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"purge", "--url", "http://www.example.test/a"},
		env(map[string]string{"EDGED_ADMIN": admin, "EDGED_PURGE_TOKEN": "e2e-token"}), &stdout, &stderr); code != exitOK {
		t.Errorf("purge on the admin listener: exit %d, %s%s", code, stdout.String(), stderr.String())
	}
}
