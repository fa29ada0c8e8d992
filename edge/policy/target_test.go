package policy

import (
	"errors"
	"net/url"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name, scheme, host, uri string
		wantKey, wantURI        string
		wantErr                 bool
	}{
		{"RFC 3986 §6.2.2.1 case of scheme and host", "HTTP", "Example.COM", "/a", "http://example.com/a", "/a", false},
		{"RFC 3986 §6.2.3 default port http", "http", "example.com:80", "/", "http://example.com/", "/", false},
		{"RFC 3986 §6.2.3 default port https", "https", "example.com:443", "/", "https://example.com/", "/", false},
		{"RFC 3986 §6.2.3 other port kept", "https", "example.com:8443", "/", "https://example.com:8443/", "/", false},
		{"RFC 3986 §6.2.3 empty port", "http", "example.com:", "/", "http://example.com/", "/", false},
		{"RFC 3986 §6.2.3 leading-zero port", "http", "example.com:080", "/", "http://example.com/", "/", false},
		{"trailing dot of host", "http", "example.com.", "/", "http://example.com/", "/", false},
		{"RFC 3986 §3.2.2 IPv6 literal", "http", "[::1]:8080", "/", "http://[::1]:8080/", "/", false},
		{"RFC 3986 §3.2.2 IPv4", "http", "127.0.0.1", "/x", "http://127.0.0.1/x", "/x", false},
		{"RFC 3986 §6.2.2.1 pct hex upper-cased", "http", "h", "/a%c3%a9", "http://h/a%C3%A9", "/a%C3%A9", false},
		{"RFC 3986 §6.2.2.2 unreserved decoded", "http", "h", "/%7Euser/%41", "http://h/~user/A", "/~user/A", false},
		{"RFC 3986 §6.2.2.2 %2F stays encoded", "http", "h", "/a%2fb", "http://h/a%2Fb", "/a%2Fb", false},
		{"RFC 3986 §5.2.4 dot segments", "http", "h", "/a/./b/../c", "http://h/a/c", "/a/c", false},
		{"RFC 3986 §5.2.4 encoded dot segments", "http", "h", "/a/%2e%2E/b", "http://h/b", "/b", false},
		{"RFC 3986 §5.2.4 above root", "http", "h", "/../../a", "http://h/a", "/a", false},
		{"RFC 3986 §5.2.4 trailing ..", "http", "h", "/a/b/..", "http://h/a/", "/a/", false},
		{"RFC 9110 §4.2.3 empty path", "http", "h", "http://h", "http://h/", "/", false},
		{"absolute-form: host argument wins", "http", "real.example", "http://other.example/p?q=1", "http://real.example/p?q=1", "/p?q=1", false},
		{"query kept, hex upper-cased", "http", "h", "/p?b=%2f&a=1", "http://h/p?b=%2F&a=1", "/p?b=%2F&a=1", false},
		{"empty ? dropped", "http", "h", "/p?", "http://h/p", "/p", false},
		{"RFC 3986 §6.2.2.2 unreserved decoded in host", "http", "%73ite.exampl%65%2E", "/", "http://site.example/", "/", false},
		{"other escape in host refused", "http", "a%2Fb.example", "/", "", "", true},
		{"bad escape in host refused", "http", "a%zz.example", "/", "", "", true},
		{"empty host", "http", "", "/", "", "", true},
		{"bad host char", "http", "ex ample.com", "/", "", "", true},
		{"port too large", "http", "h:65536", "/", "", "", true},
		{"non-numeric port", "http", "h:abc", "/", "", "", true},
		{"bad IPv6", "http", "[zz::1]", "/", "", "", true},
		{"bad percent-encoding in query", "http", "h", "/p?a=%zz", "", "", true},
		{"non-origin-form", "http", "h", "*", "", "", true},
		// RFC 3986 §7.3: a dot segment an origin could find by decoding a
		// separator, or by dropping ";params", is refused: the cache would
		// key and route it under another prefix than the origin resolves.
		{"RFC 3986 §7.3 ..%2F refused", "http", "h", "/static/..%2fadmin", "", "", true},
		{"RFC 3986 §7.3 %2F.. refused", "http", "h", "/static%2F..%2Fadmin", "", "", true},
		{"RFC 3986 §7.3 ..%5C refused", "http", "h", "/static/..%5cadmin", "", "", true},
		{"RFC 3986 §7.3 backslash .. refused", "http", "h", "/static/..\\admin", "", "", true},
		{"RFC 3986 §7.3 ..;param refused", "http", "h", "/static/..;/admin", "", "", true},
		{"RFC 3986 §7.3 .;param refused", "http", "h", "/static/.;x/admin", "", "", true},
		{"RFC 3986 §7.3 %2e%2e;param refused", "http", "h", "/static/%2e%2e;/admin", "", "", true},
		{"encoded NUL refused", "http", "h", "/admin%00/x", "", "", true},
		{"encoded tab refused", "http", "h", "/admin%09/x", "", "", true},
		{"encoded CR LF refused", "http", "h", "/a%0d%0aSet-Cookie:x", "", "", true},
		{"encoded DEL refused", "http", "h", "/a%7F", "", "", true},
		{"encoded control in query kept", "http", "h", "/a?b=%00", "http://h/a?b=%00", "/a?b=%00", false},
		{"%2F without dots kept", "http", "h", "/a%2Fb/c", "http://h/a%2Fb/c", "/a%2Fb/c", false},
		{"; without dots kept", "http", "h", "/a;v=1/b", "http://h/a;v=1/b", "/a;v=1/b", false},
		{"dotted names kept", "http", "h", "/a/..b/.c/...%2F", "http://h/a/..b/.c/...%2F", "/a/..b/.c/...%2F", false},
		{"// kept as sent", "http", "h", "/x//a//b", "http://h/x//a//b", "/x//a//b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseTarget(tt.scheme, tt.host, u)
			if tt.wantErr {
				if !errors.Is(err, ErrBadTarget) {
					t.Fatalf("err = %v, want ErrBadTarget", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Key() != tt.wantKey || got.RequestURI() != tt.wantURI {
				t.Errorf("got key %q uri %q, want %q %q", got.Key(), got.RequestURI(), tt.wantKey, tt.wantURI)
			}
			if b := got.AppendKey([]byte("prefix")); string(b) != "prefix"+tt.wantKey {
				t.Errorf("AppendKey = %q, want the key after the prefix", b)
			}
		})
	}
}

// TestParseTargetRawPath covers paths that reach ParseTarget only through
// URL.RawPath: invalid percent-encoding and control characters.
func TestParseTargetRawPath(t *testing.T) {
	for _, p := range []string{"/a%zz", "/a%4", "/a\x00b", "/a\nb"} {
		if _, err := normalizePath(p, false); !errors.Is(err, ErrBadTarget) {
			t.Errorf("normalizePath(%q) err = %v, want ErrBadTarget", p, err)
		}
	}
}

func TestParseTargetPrefixOrder(t *testing.T) {
	// The key of a site and its subpaths share "scheme://host/" so a purge of
	// a prefix is a range scan (docs/design.md).
	a, _ := ParseTarget("https", "h", &url.URL{Path: "/img/a.png"})
	b, _ := ParseTarget("https", "h", &url.URL{Path: "/img"})
	if k := a.Key(); k[:len(b.Key())] != b.Key() {
		t.Errorf("%q is not a prefix of %q", b.Key(), k)
	}
}
