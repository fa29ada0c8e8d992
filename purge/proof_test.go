package purge

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"edged/internal/logtest"
)

// TestProof: GET /purge?challenge=C answers, without credentials, the MAC
// only a holder of the token can make; it logs nothing and purges nothing.
func TestProof(t *testing.T) {
	logs := &logtest.Buffer{}
	inv := &memInvalidator{}
	b := startBus(t, Options{Invalidator: inv, Token: "s3cret", Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	get := func(query string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/purge" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", query, resp.Header.Get("Cache-Control"))
		}
		return resp.StatusCode, string(body)
	}
	challenge := "c4a1" + strings.Repeat("9", 60)
	code, body := get("?challenge=" + url.QueryEscape(challenge))
	var ans struct{ Proof string }
	if err := json.Unmarshal([]byte(body), &ans); code != 200 || err != nil || ans.Proof != AdminProof("s3cret", challenge) {
		t.Fatalf("got %d %s, want 200 and AdminProof", code, body)
	}
	if ans.Proof == AdminProof("s3cre", challenge) || ans.Proof == AdminProof("s3cret", challenge+"x") {
		t.Error("the proof does not depend on the token and the challenge")
	}
	// A proof never verifies as an event signature over the same bytes.
	if sig := newSigner("s3cret").mac(signatureContext, []byte(challenge)); ans.Proof == signatureVersion+hex.EncodeToString(sig) {
		t.Error("a proof is an event signature")
	}
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"", 405},
		{"?challenge=", 400},
		{"?challenge=a&challenge=b", 400},
		{"?challenge=" + strings.Repeat("a", MaxChallenge+1), 400},
	} {
		if code, body := get(tt.query); code != tt.want || !json.Valid([]byte(body)) {
			t.Errorf("GET /purge%.40s: %d %s, want %d and a JSON error", tt.query, code, body, tt.want)
		}
	}
	if len(inv.calls()) != 0 {
		t.Error("a proof purged")
	}
	if s := logs.String(); s != "" && strings.Contains(s, "refused") {
		t.Errorf("a proof was logged as a refusal: %s", s)
	}

	none := startBus(t, Options{Invalidator: &memInvalidator{}})
	srv2 := httptest.NewServer(none.Handler())
	defer srv2.Close()
	resp, err := http.Get(srv2.URL + "/purge?challenge=abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("no token configured: %d, want 503 (nothing to prove)", resp.StatusCode)
	}
}
