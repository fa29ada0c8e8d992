package cors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edged/internal/fielderr"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // "" = valid
	}{
		{"exact origins", Options{AllowedOrigins: []string{"https://app.example", "http://localhost:3000", "https://[::1]:8443"}}, ""},
		{"wildcard subdomains with credentials", Options{AllowedOrigins: []string{"https://*.example.com"}, AllowCredentials: true}, ""},
		{"any origin", Options{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"*"}, MaxAge: time.Hour}, ""},
		{"none", Options{}, "AllowedOrigins: required"},
		{"any origin with credentials", Options{AllowedOrigins: []string{"*"}, AllowCredentials: true}, `AllowedOrigins[0]: "*" cannot be combined with allow_credentials`},
		{"null", Options{AllowedOrigins: []string{"null"}}, `AllowedOrigins[0]: "null" is the origin of sandboxed`},
		{"path", Options{AllowedOrigins: []string{"https://app.example/"}}, `AllowedOrigins[0]: want an origin such as https://app.example.com (scheme, host, optional port; no path), got "https://app.example/"`},
		{"no scheme", Options{AllowedOrigins: []string{"app.example"}}, `AllowedOrigins[0]: want an origin such as`},
		{"ftp", Options{AllowedOrigins: []string{"ftp://app.example"}}, `AllowedOrigins[0]: want an origin such as`},
		{"inner wildcard", Options{AllowedOrigins: []string{"https://app*.example"}}, `AllowedOrigins[0]: want an origin such as`},
		{"bare wildcard host", Options{AllowedOrigins: []string{"https://*"}}, `AllowedOrigins[0]: want an origin such as`},
		{"user info", Options{AllowedOrigins: []string{"https://u@app.example"}}, `AllowedOrigins[0]: want an origin such as`},
		{"lower-case method", Options{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"get"}}, `AllowedMethods[0]: want an upper-case method name`},
		{"header name", Options{AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"X A"}}, `AllowedHeaders[0]: invalid header name "X A"`},
		{"max age", Options{AllowedOrigins: []string{"*"}, MaxAge: 1500 * time.Millisecond}, "MaxAge: want whole seconds"},
	}
	for _, tt := range tests {
		err := tt.opts.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		case tt.want != "" && len(fielderr.All(err)) == 0:
			t.Errorf("%s: %T is not a field error", tt.name, err)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New accepted no origins")
	}
}

// TestApplyKeepsSharedVary: Apply never writes into the Vary slice it was
// given (a stored response's, shared by concurrent hits).
func TestApplyKeepsSharedVary(t *testing.T) {
	p, err := New(Options{AllowedOrigins: []string{"https://a.example"}})
	if err != nil {
		t.Fatal(err)
	}
	shared := make([]string, 1, 4)
	shared[0] = "Accept-Encoding"
	h := http.Header{"Vary": shared, "Access-Control-Allow-Origin": {"*"}}
	again := http.Header{"Vary": {"accept-encoding, origin"}}
	r, _ := http.NewRequest(http.MethodGet, "http://s.example/", nil)
	r.Header.Set("Origin", "https://a.example")
	p.Apply(h, r)
	if got := h["Vary"]; strings.Join(got, ",") != "Accept-Encoding,Origin" {
		t.Errorf("Vary %q", got)
	}
	if got := shared[:2][1]; got != "" {
		t.Errorf("the shared slice's spare capacity was written: %q", got)
	}
	if got := h.Get("Access-Control-Allow-Origin"); got != "https://a.example" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
	// An upstream that already varies on Origin: not named twice.
	p.Apply(again, r)
	if got := again["Vary"]; len(got) != 1 {
		t.Errorf("Vary %q, want the upstream's line alone", got)
	}
}

// TestAllowsWebSocket: a handshake passes with no Origin, with one the
// policy allows (scheme included), or with the site's own host under the
// request's scheme or https; an http Origin of the site's own host on an
// https request is another origin (the old check ignored the scheme and
// passed it), and so is every malformed, listed-twice or foreign one.
func TestAllowsWebSocket(t *testing.T) {
	p, err := New(Options{AllowedOrigins: []string{"https://app.example", "https://*.tenant.example", "http://localhost:3000"}, AllowCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		origins      []string
		scheme, host string
		want         bool
	}{
		{"no Origin (not a browser)", nil, "https", "ws.example", true},
		{"own origin", []string{"https://ws.example"}, "https", "ws.example", true},
		{"own origin, any letter case", []string{"https://WS.Example"}, "https", "ws.example", true},
		{"own origin with its port", []string{"https://ws.example:8443"}, "https", "ws.example:8443", true},
		{"own origin over plain http", []string{"http://ws.example"}, "http", "ws.example", true},
		{"https page through a TLS-terminating proxy", []string{"https://ws.example"}, "http", "ws.example", true},
		{"http page of the own host on https", []string{"http://ws.example"}, "https", "ws.example", false},
		{"http page of the own host with port on https", []string{"http://ws.example:8443"}, "https", "ws.example:8443", false},
		{"own host, another port", []string{"https://ws.example:444"}, "https", "ws.example", false},
		{"allowed origin", []string{"https://app.example"}, "https", "ws.example", true},
		{"allowed origin over http", []string{"http://app.example"}, "https", "ws.example", false},
		{"allowed http origin", []string{"http://localhost:3000"}, "https", "ws.example", true},
		{"allowed subdomain", []string{"https://a.tenant.example"}, "https", "ws.example", true},
		{"subdomain over http", []string{"http://a.tenant.example"}, "https", "ws.example", false},
		{"foreign origin", []string{"https://evil.example"}, "https", "ws.example", false},
		{"suffix of the own host", []string{"https://ws.example.evil.example"}, "https", "ws.example", false},
		{"null", []string{"null"}, "https", "ws.example", false},
		{"path-smuggled wildcard", []string{"https://evil.example/.tenant.example"}, "https", "ws.example", false},
		{"two origins", []string{"https://app.example", "https://evil.example"}, "https", "ws.example", false},
		{"other scheme", []string{"file://ws.example"}, "https", "ws.example", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/live", nil)
		r.Header["Origin"] = tt.origins
		if got := p.AllowsWebSocket(r, tt.scheme, tt.host); got != tt.want {
			t.Errorf("%s: AllowsWebSocket(Origin %q, %s://%s) = %v, want %v", tt.name, tt.origins, tt.scheme, tt.host, got, tt.want)
		}
	}
}
