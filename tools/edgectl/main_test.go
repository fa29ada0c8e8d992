package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"edged/purge"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParsePurge(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		want      purge.Request
		wantURL   string
		wantToken string
		wantErr   string
	}{
		{"flags", []string{"--url", "http://a.example/x", "--url", "http://a.example/y", "--tag", "t", "--soft", "--admin", "http://n1:8081", "--token", "tok"}, nil,
			purge.Request{URLs: []string{"http://a.example/x", "http://a.example/y"}, Tags: []string{"t"}, Soft: true}, "http://n1:8081/purge", "tok", ""},
		{"environment", []string{"-prefix", "https://a.example/img/", "-host", "b.example"}, map[string]string{"EDGED_ADMIN": "http://n2:9/", "EDGED_PURGE_TOKEN": "envtok"},
			purge.Request{Prefixes: []string{"https://a.example/img/"}, Hosts: []string{"b.example"}}, "http://n2:9/purge", "envtok", ""},
		{"all with a prefix", []string{"--all", "--prefix", "http://a.example/x", "--token", "t"}, nil, purge.Request{}, "", "",
			"--all purges everything and cannot be combined with --prefix"},
		{"all with a url and a tag", []string{"--url", "http://a.example/x", "--all", "--tag", "t", "--token", "t"}, nil, purge.Request{}, "", "",
			"cannot be combined with --url, --tag"},
		{"flag beats environment", []string{"--all", "--admin", "http://n3:1", "--token", "f"}, map[string]string{"EDGED_ADMIN": "http://n2:9", "EDGED_PURGE_TOKEN": "e"},
			purge.Request{All: true}, "http://n3:1/purge", "f", ""},
		{"default admin", []string{"--all"}, map[string]string{"EDGED_PURGE_TOKEN": "e"}, purge.Request{All: true}, "http://127.0.0.1:8081/purge", "e", ""},
		{"nothing to purge", []string{"--soft", "--token", "t"}, nil, purge.Request{}, "", "", "empty purge"},
		{"relative url", []string{"--url", "/a", "--token", "t"}, nil, purge.Request{}, "", "", "absolute"},
		{"no token", []string{"--all"}, nil, purge.Request{}, "", "", "no token"},
		{"bad admin", []string{"--all", "--token", "t", "--admin", "ftp://n1:8081"}, nil, purge.Request{}, "", "", "admin URL"},
		// host:port, as edgectl stats takes its nodes.
		{"admin host:port", []string{"--all", "--token", "t", "--admin", "n1:8081"}, nil, purge.Request{All: true}, "http://n1:8081/purge", "t", ""},
		{"unknown flag", []string{"--everything"}, nil, purge.Request{}, "", "", "not defined"},
		{"positional", []string{"--all", "--token", "t", "http://a.example/"}, nil, purge.Request{}, "", "", "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePurge(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.req, tt.want) || got.endpoint != tt.wantURL || got.token != tt.wantToken {
				t.Errorf("got %+v %s %s, want %+v %s %s", got.req, got.endpoint, got.token, tt.want, tt.wantURL, tt.wantToken)
			}
		})
	}
}

// fakeNode answers /purge like edged: it proves it holds the token
// "s3cret" (purge.AdminProof), checks the token and the JSON and answers
// with status, recording the request it got. It injects the answers a real
// node gives only when its bus fails; TestPurgeAgainstRealBus and
// TestTokenNeverSentToAPublicListener use real nodes.
func fakeNode(t *testing.T, status int, answer string) (*httptest.Server, *purge.Request) {
	t.Helper()
	var got purge.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := r.URL.Query().Get("challenge"); r.Method == http.MethodGet && r.URL.Path == "/purge" && c != "" {
			json.NewEncoder(w).Encode(map[string]string{"proof": purge.AdminProof("s3cret", c)})
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/purge" {
			t.Errorf("got %s %s, want POST /purge", r.Method, r.URL.Path)
		}
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"missing or wrong bearer token"}`)
			return
		}
		req, err := purge.ParseRequest(r.Body)
		if err != nil {
			t.Errorf("edgectl sent a request the API refuses: %v", err)
		}
		got = req
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

// TestRunPurgeAdminHostPort: --admin (and EDGED_ADMIN) take a node's
// host:port, as edgectl stats does, and reach the real listener with it.
func TestRunPurgeAdminHostPort(t *testing.T) {
	srv, got := fakeNode(t, 200, `{"id":"abc","seq":1,"count":1,"duration_ms":1}`)
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	for _, args := range [][]string{{"purge", "--all", "--admin", hostPort}, {"purge", "--all"}} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, env(map[string]string{"EDGED_ADMIN": hostPort, "EDGED_PURGE_TOKEN": "s3cret"}), &stdout, &stderr)
		if code != exitOK || !strings.Contains(stdout.String(), "purged: id=abc") || !got.All {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want the purge sent", args, code, stdout.String(), stderr.String())
		}
	}
}

func TestRunPurge(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		answer     string
		token      string
		wantCode   int
		wantOut    string
		wantErrOut string
	}{
		{"ok", 200, `{"id":"abc","seq":7,"count":3,"duration_ms":1.5}`, "s3cret", exitOK, "purged: id=abc seq=7 count=3", ""},
		{"wrong token", 200, ``, "nope", exitFail, "", "did not prove it holds your purge token (a wrong token"},
		{"bus down", 503, `{"error":"purge bus unavailable"}`, "s3cret", exitFail, "", "503 Service Unavailable: purge bus unavailable"},
		{"accepted, not applied", 504, `{"error":"accepted but not applied","id":"abc","seq":7,"accepted":true}`, "s3cret", exitFail, "", "accepted but not applied (id=abc seq=7)"},
		// Issue 12, finding 1: the node knows a peer will ignore the purge.
		{"peer key mismatch", 200, `{"id":"abc","seq":7,"count":3,"warning":"purge bus: a peer's messages fail verification"}`, "s3cret", exitOK, "purged: id=abc", "warning: purge bus: a peer's messages fail verification"},
		{"not json", 502, `<html>bad gateway</html>`, "s3cret", exitFail, "", "unexpected answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := fakeNode(t, tt.status, tt.answer)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"purge", "--tag", "product-42", "--url", "http://www.example.com/a", "--soft"},
				env(map[string]string{"EDGED_ADMIN": srv.URL, "EDGED_PURGE_TOKEN": tt.token}), &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantOut) || !strings.Contains(stderr.String(), tt.wantErrOut) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErrOut)
			}
			want := purge.Request{URLs: []string{"http://www.example.com/a"}, Tags: []string{"product-42"}, Soft: true}
			if tt.token == "s3cret" && !reflect.DeepEqual(*got, want) {
				t.Errorf("server got %+v, want %+v", *got, want)
			}
		})
	}
}

func TestRunUsageAndUnreachable(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no command", nil, exitUsage, "usage"},
		{"unknown command", []string{"flush"}, exitUsage, "unknown command"},
		{"bad flag", []string{"purge", "--bogus"}, exitUsage, "not defined"},
		{"help", []string{"purge", "-h"}, exitOK, "-url URL"},
		// Each command's -h starts with its usage line (flagSet), purge's too.
		{"purge usage", []string{"purge", "-h"}, exitOK, "usage: edgectl purge [flags]"},
		{"stats usage", []string{"stats", "-h"}, exitOK, "usage: edgectl stats [flags] [NODE...]"},
		{"warm usage", []string{"warm", "-h"}, exitOK, "usage: edgectl warm [flags] FILE"},
		{"node down", []string{"purge", "--all", "--admin", "http://127.0.0.1:1"}, exitFail, "127.0.0.1:1"},
		// Refused before anything is sent (exit 2, not the unreachable node's 1).
		{"all with a prefix", []string{"purge", "--all", "--prefix", "http://a.example/x", "--admin", "http://127.0.0.1:1"}, exitUsage, "cannot be combined with --prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, env(map[string]string{"EDGED_PURGE_TOKEN": "t"}), &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("exit %d stderr %q, want %d containing %q", code, stderr.String(), tt.wantCode, tt.wantErr)
			}
		})
	}
}

// Issue 12, finding 13: a flag error was printed twice (by the flag
// package, then by edgectl), and pointing edgectl at a node's public
// listener gave a bare "404 page not found".
func TestUsageErrorsPrintOnceAndPublicPortHints(t *testing.T) {
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"purge", "--bogus"}, env(nil), &stdout, &stderr)
	if n := strings.Count(stderr.String(), "flag provided but not defined"); n != 1 {
		t.Errorf("the flag error is printed %d times, want once:\n%s", n, stderr.String())
	}

	// What a node's public listener answers for the admin paths: the
	// origin's 404, through the cache.
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Status", "edged; fwd=uri-miss; fwd-status=404")
		http.NotFound(w, r)
	}))
	defer public.Close()
	for _, args := range [][]string{{"purge", "--all"}, {"stats"}} {
		stderr.Reset()
		code := run(context.Background(), args, env(map[string]string{"EDGED_ADMIN": public.URL, "EDGED_PURGE_TOKEN": "t"}), &stdout, &stderr)
		if code != exitFail || !strings.Contains(stderr.String(), "admin listener") {
			t.Errorf("%v against a public listener: exit %d, stderr %q; want 1 and a hint to use the admin listener", args, code, stderr.String())
		}
	}
}

// The real purge API and edgectl agree end to end.
func TestPurgeAgainstRealBus(t *testing.T) {
	inv := &countingInvalidator{}
	b, err := purge.New(purge.Options{Invalidator: inv, StoreDir: t.TempDir(), Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/purge", b.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"purge", "--host", "www.example.com", "--admin", srv.URL},
		env(map[string]string{"EDGED_PURGE_TOKEN": "s3cret"}), &stdout, &stderr)
	if code != exitOK || !strings.Contains(stdout.String(), "seq=1 count=1") {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
	if out, _ := json.Marshal(inv.last); string(out) != `{"hosts":["www.example.com"]}` {
		t.Errorf("applied %s", out)
	}
}

type countingInvalidator struct {
	applied uint64
	last    purge.Request
}

func (c *countingInvalidator) Invalidate(_ context.Context, r purge.Request, seq uint64) (int, error) {
	c.applied, c.last = seq, r
	return 1, nil
}

func (c *countingInvalidator) Applied() (uint64, error) { return c.applied, nil }
