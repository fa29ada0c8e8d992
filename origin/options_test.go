package origin

import (
	"strings"
	"testing"
	"time"
)

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string // substring; "" means valid
	}{
		{"origin only", Options{Origin: "http://127.0.0.1:9000", Via: "edged"}, ""},
		{"https origin with prefix", Options{Origin: "https://origin.example/base/", Via: "edged"}, ""},
		{"shields only", Options{Shields: []string{"http://s1:80", "http://s2:80"}, Via: "edged"}, ""},
		{"shields with fallback", Options{Origin: "http://o", Shields: []string{"http://s1"}, ShieldFallback: true, Via: "edged"}, ""},
		{"nothing to fetch from", Options{Via: "edged"}, "option Origin: required"},
		{"invalid URL", Options{Origin: "x", Via: "edged"}, `option Origin: invalid URL "x"`},
		{"unparsable URL", Options{Origin: "http://[::1", Via: "edged"}, `option Origin: invalid URL "http://[::1"`},
		// host:port without a scheme, the usual slip: url.Parse reads
		// these as a path and as the scheme "localhost".
		{"no scheme", Options{Origin: "127.0.0.1:9000", Via: "edged"}, `option Origin: invalid URL "127.0.0.1:9000": no scheme: want http://127.0.0.1:9000 or https://127.0.0.1:9000`},
		{"no scheme, a name", Options{Origin: "localhost:9000", Via: "edged"}, `invalid URL "localhost:9000": no scheme: want http://localhost:9000`},
		{"unsupported scheme", Options{Origin: "ftp://o", Via: "edged"}, `scheme must be http or https, got "ftp"`},
		{"no host", Options{Origin: "http:///path", Via: "edged"}, "option Origin: invalid URL \"http:///path\": no host"},
		{"user info", Options{Origin: "http://u:p@o", Via: "edged"}, "user info"},
		{"query", Options{Origin: "http://o/?a=b", Via: "edged"}, "no query, fragment or user info"},
		{"bad shield", Options{Shields: []string{"http://s1", "gopher://s2"}, Via: "edged"}, "option Shields[1]"},
		{"duplicate shield", Options{Shields: []string{"http://s1", "http://s1"}, Via: "edged"}, `option Shields[1]: repeated shield "http://s1"`},
		{"fallback without origin", Options{Shields: []string{"http://s1"}, ShieldFallback: true, Via: "edged"}, "option ShieldFallback: requires Origin"},
		{"fallback without shields is harmless", Options{Origin: "http://o", ShieldFallback: true, Via: "edged"}, ""},
		// RFC 9110 §7.6.3: the pseudonym is a token.
		{"empty Via", Options{Origin: "http://o"}, "option Via: required"},
		{"Via not a token", Options{Origin: "http://o", Via: "edge d"}, "option Via:"},
		{"negative timeout", Options{Origin: "http://o", Via: "edged", HeaderTimeout: -time.Second}, "option HeaderTimeout"},
		{"negative idle", Options{Origin: "http://o", Via: "edged", MaxIdlePerHost: -1}, "option MaxIdlePerHost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if c != nil {
				defer c.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v, want no error", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("New: no error, want one containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("New: %q, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	got := Options{}.withDefaults()
	want := []struct {
		name      string
		got, want any
	}{
		{"ConnectTimeout", got.ConnectTimeout, 5 * time.Second},
		{"HeaderTimeout", got.HeaderTimeout, 30 * time.Second},
		{"BodyTimeout", got.BodyTimeout, 60 * time.Second},
		{"MaxIdlePerHost", got.MaxIdlePerHost, 64},
		{"Logger set", got.Logger != nil, true},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("%s = %v, want %v", w.name, w.got, w.want)
		}
	}
}
