package purge

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edged/internal/logtest"
)

// post sends body to url with a bearer token ("" for none) and returns the
// status and body.
func post(t testing.TB, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHandler(t *testing.T) {
	inv := &memInvalidator{perCall: 3}
	b := startBus(t, Options{Invalidator: inv, Token: "s3cret"})
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()

	tests := []struct {
		name     string
		auth     string // Authorization header
		method   string
		body     string
		want     int
		wantBody string
	}{
		{"ok", "Bearer s3cret", "POST", `{"tags":["t"]}`, 200, `"count":3`},
		{"scheme case-insensitive (RFC 9110 §11.1)", "bearer s3cret", "POST", `{"all":true,"soft":true}`, 200, `"seq":2`},
		{"no token (RFC 6750 §3)", "", "POST", `{"all":true}`, 401, "bearer token"},
		{"wrong token", "Bearer s3cre", "POST", `{"all":true}`, 401, "bearer token"},
		{"token as basic", "Basic s3cret", "POST", `{"all":true}`, 401, "bearer token"},
		{"bad json", "Bearer s3cret", "POST", `{"urls":`, 400, "JSON ends too early"},
		{"unknown field", "Bearer s3cret", "POST", `{"url":"http://a.example/"}`, 400, `unknown field \"url\" (did you mean \"urls\"?)`},
		{"wrong type", "Bearer s3cret", "POST", `{"urls":"http://a.example/"}`, 400, `field \"urls\" must be an array of strings`},
		{"all with a prefix", "Bearer s3cret", "POST", `{"all":true,"prefixes":["http://a.example/"]}`, 400, "cannot be combined with prefixes"},
		{"empty purge", "Bearer s3cret", "POST", `{}`, 400, "empty purge"},
		// A field given twice kept its last value: the first URL was
		// silently dropped from a purge answered 200.
		{"field twice", "Bearer s3cret", "POST", `{"urls":["http://a.example/1"],"urls":["http://a.example/2"]}`, 400, `field \"urls\" given twice`},
		{"field twice, escaped", "Bearer s3cret", "POST", `{"urls":["http://a.example/1"],"tags":["t"],"\u0075rls":[]}`, 400, `field \"urls\" given twice`},
		{"relative url", "Bearer s3cret", "POST", `{"urls":["/a"]}`, 400, "absolute"},
		{"url without host", "Bearer s3cret", "POST", `{"urls":["http:///a"]}`, 400, "no host"},
		{"prefix without scheme", "Bearer s3cret", "POST", `{"prefixes":["www.example.com/a"]}`, 400, "absolute"},
		{"too large", "Bearer s3cret", "POST", `{"tags":["` + strings.Repeat("t", MaxBodySize) + `"]}`, 413, "too large"},
		{"get", "Bearer s3cret", "GET", ``, 405, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+"/purge", strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("got %d %s, want %d containing %q", resp.StatusCode, body, tt.want, tt.wantBody)
			}
			if tt.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.want == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 Allow = %q, want POST", resp.Header.Get("Allow"))
			}
			if tt.want != 200 && !json.Valid(body) {
				t.Errorf("error body is not JSON: %s", body)
			}
		})
	}
	if got := len(inv.calls()); got != 2 {
		t.Errorf("applied %d purges, want the 2 accepted ones only", got)
	}
}

func TestHandlerOKBody(t *testing.T) {
	b := startBus(t, Options{Invalidator: &memInvalidator{perCall: 5}, Token: "t"})
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	code, body := post(t, srv.URL, "t", `{"urls":["http://www.example.com/a"]}`)
	if code != 200 {
		t.Fatalf("status %d %s", code, body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "seq", "count", "duration_ms", "apply_ms"} {
		if _, ok := got[k]; !ok {
			t.Errorf("answer %s lacks %q", body, k)
		}
	}
	if got["count"] != 5.0 || got["seq"] != 1.0 {
		t.Errorf("answer %s, want count 5 and seq 1", body)
	}
}

// No token configured: the API never purges unauthenticated.
func TestHandlerWithoutTokenRefusesAll(t *testing.T) {
	inv := &memInvalidator{}
	b := startBus(t, Options{Invalidator: inv})
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	for _, tok := range []string{"", "anything"} {
		if code, body := post(t, srv.URL, tok, `{"all":true}`); code != 503 || !strings.Contains(body, "no token configured") {
			t.Errorf("token %q: got %d %s, want 503", tok, code, body)
		}
	}
	if len(inv.calls()) != 0 {
		t.Error("a purge was applied without a token configured")
	}
}

// blockingInvalidator holds every Invalidate until release is closed.
type blockingInvalidator struct {
	memInvalidator
	release chan struct{}
}

func (b *blockingInvalidator) Invalidate(ctx context.Context, r Request, seq uint64) (int, error) {
	select {
	case <-b.release:
		return b.memInvalidator.Invalidate(ctx, r, seq)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Published but not applied in time: 504, and the body says the purge was
// accepted; it is applied once the node gets to it.
func TestHandlerAcceptedButNotApplied(t *testing.T) {
	inv := &blockingInvalidator{release: make(chan struct{})}
	b := startBus(t, Options{Invalidator: inv, Token: "t", ApplyTimeout: 50 * time.Millisecond})
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	code, body := post(t, srv.URL, "t", `{"tags":["slow"]}`)
	if code != http.StatusGatewayTimeout || !strings.Contains(body, `"accepted":true`) || !strings.Contains(body, `"seq":1`) {
		t.Fatalf("got %d %s, want 504 accepted seq 1", code, body)
	}
	close(inv.release)
	waitFor(t, "late apply", func() bool { return len(inv.calls()) == 1 })
}

// TestHandlerLogsWhoPurged: a purge's log line names the client that asked
// for it, and a refused token is logged with the client, never with the
// token. On the old code a wrong token left no trace and "purge published"
// named the event but not who asked.
func TestHandlerLogsWhoPurged(t *testing.T) {
	logs := &logtest.Buffer{}
	b := startBus(t, Options{Invalidator: &memInvalidator{}, Token: "s3cret-token-value",
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	if status, _ := post(t, srv.URL+"/purge", "wrong-guess", `{"tags":["t"]}`); status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", status)
	}
	if status, _ := post(t, srv.URL+"/purge", "s3cret-token-value", `{"tags":["t"]}`); status != http.StatusOK {
		t.Fatalf("right token: %d", status)
	}
	refused := logs.WaitLines(t, "purge request refused", 1)
	if refused[0]["status"] != float64(401) || !strings.HasPrefix(refused[0]["remote"].(string), "127.0.0.1:") {
		t.Errorf("refusal logged as %v", refused[0])
	}
	done := logs.WaitLines(t, "purge request", 1)
	if done[0]["id"] == "" || !strings.HasPrefix(done[0]["remote"].(string), "127.0.0.1:") {
		t.Errorf("purge logged as %v", done[0])
	}
	if s := logs.String(); strings.Contains(s, "wrong-guess") || strings.Contains(s, "s3cret-token-value") {
		t.Errorf("a token reached the log: %s", s)
	}
}
