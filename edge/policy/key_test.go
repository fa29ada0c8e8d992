package policy

import (
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"testing"

	"edged/internal/httpsyntax"
)

// TestKeyBytes pins the bytes of every derivation: they are the keys an
// existing cache file holds, so a change here orphans every stored entry.
// Each want is spelled out literally, as edged wrote it before the grammar
// moved into Key.
func TestKeyBytes(t *testing.T) {
	const k Key = "https://example.com/a?b=1"
	req := http.Header{"Accept-Encoding": {"gzip, br"}, "Accept-Language": {"en-US, de;q=0.5"}}
	tests := []struct {
		name string
		got  Key
		want string
	}{
		{"route", k.Route("0123456789abcdef"), "https://example.com/a?b=1\x00~route;0123456789abcdef"},
		{"route id", k.Route(RouteID("/\x00h:x-canary=1")), "https://example.com/a?b=1\x00~route;7793a8a467ddbcd6"},
		{"split", k.Split("canary"), "https://example.com/a?b=1\x00~canary"},
		{"pool", k.Pool("tenant-a"), "https://example.com/a?b=1\x00~pool;tenant-a"},
		{"auth partition", k.AuthPartition("acme"), "https://example.com/a?b=1\x00~auth:acme"},
		{"encoding", k.Encoding("br"), "https://example.com/a?b=1\x00ce=br"},
		{"slice", k.Slice(4096), "https://example.com/a?b=1\x00~slice;4096"},
		{"slice of a split", k.Split("canary").Slice(0), "https://example.com/a?b=1\x00~canary\x00~slice;0"},
		{"variant", k.Variant([]string{"Accept-Encoding", "Accept-Language", "X-Absent"}, req),
			"https://example.com/a?b=1\x00Accept-Encoding:+7:gzip,br\nAccept-Language:=14:en-us,de;q=0.5\nX-Absent:-\n"},
		{"variant without names", k.Variant(nil, req), "https://example.com/a?b=1\x00"},
		{"flight authorization", k.Flight("Bearer x", ""), "https://example.com/a?b=1\x00authorization\x00Bearer x"},
		{"flight identity", k.Flight("", "alice"), "https://example.com/a?b=1\x00identity\x00alice"},
		{"flight both", k.Flight("Bearer x", "alice"), "https://example.com/a?b=1\x00authorization\x00Bearer x\x00identity\x00alice"},
		{"flight neither", k.Flight("", ""), "https://example.com/a?b=1"},
		{"combined", k.Split("canary").AuthPartition("acme").Variant([]string{"Accept-Encoding"}, req).Encoding("gzip"),
			"https://example.com/a?b=1\x00~canary\x00~auth:acme\x00Accept-Encoding:+7:gzip,br\n\x00ce=gzip"},
		{"combined with route", k.Route("ab").Split("canary").Encoding("br"),
			"https://example.com/a?b=1\x00~route;ab\x00~canary\x00ce=br"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
			if !k.Derives(string(tt.got)) {
				t.Errorf("%q is not in the family of %q", tt.got, k)
			}
		})
	}
	if got := k.Family(); got != "https://example.com/a?b=1\x00" {
		t.Errorf("Family: got %q", got)
	}
}

// TestKeyAppendMatches: the buffer forms build the same bytes as Key's
// methods, so the hit path and the fill path agree on every key.
func TestKeyAppendMatches(t *testing.T) {
	const k Key = "http://h/p"
	pairs := []struct {
		name        string
		appended    []byte
		constructed Key
	}{
		{"route", AppendRoute([]byte(k), RouteID("/\x00h:x-canary=1")), k.Route(RouteID("/\x00h:x-canary=1"))},
		{"split", AppendSplit([]byte(k), "b"), k.Split("b")},
		{"pool", AppendPool([]byte(k), "a"), k.Pool("a")},
		{"auth partition", AppendAuthPartition([]byte(k), "t=1"), k.AuthPartition("t=1")},
		{"encoding", AppendEncoding([]byte(k), "gzip"), k.Encoding("gzip")},
	}
	for _, p := range pairs {
		if string(p.appended) != string(p.constructed) {
			t.Errorf("%s: Append gives %q, the method %q", p.name, p.appended, p.constructed)
		}
	}
}

func TestKeyDerives(t *testing.T) {
	const k Key = "http://h/p"
	tests := []struct {
		other string
		want  bool
	}{
		{"http://h/p", true},
		{"http://h/p\x00", true},
		{"http://h/p\x00ce=br", true},
		{"http://h/p2", false},
		{"http://h/p/", false},
		{"http://h/", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := k.Derives(tt.other); got != tt.want {
			t.Errorf("Derives(%q) = %v, want %v", tt.other, got, tt.want)
		}
	}
}

// TestKeyNoNUL: the family rule needs primary keys without NUL, or the key
// of one URL could fall in the family of another. ParseTarget refuses NUL
// anywhere in a target, and a percent-encoded one stays encoded.
func TestKeyNoNUL(t *testing.T) {
	for _, u := range []*url.URL{
		{Path: "/a\x00b"},
		{Path: "/a", RawQuery: "b=%00"},
		{Path: "/a", RawQuery: "b=\x00"},
	} {
		tgt, err := ParseTarget("http", "h", u)
		if err == nil && strings.Contains(tgt.Key(), KeySep) {
			t.Errorf("%q: key %q holds NUL", u, tgt.Key())
		}
	}
	if _, err := ParseTarget("http", "h\x00", &url.URL{Path: "/"}); err == nil {
		t.Error("a host with NUL was accepted")
	}
}

func TestSchemeKeys(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		tgt := Target{Scheme: scheme, Host: "h:8080", Path: "/p", RawQuery: "q"}
		got, err := tgt.SchemeKeys()
		if want := []string{"http://h:8080/p?q", "https://h:8080/p?q"}; err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: got %q %v, want %q", scheme, got, err, want)
		}
	}
	if _, err := (Target{Scheme: "ftp", Host: "h", Path: "/"}).SchemeKeys(); err == nil {
		t.Error("ftp: no error")
	}
	// A port is the URL's own scheme's default or not; under the other
	// scheme it is dropped when it is that scheme's default, as a
	// request's Host is (ParseTarget).
	for _, tt := range []struct {
		url  string
		want []string
	}{
		{"http://h/p", []string{"http://h/p", "https://h/p"}},
		{"http://h:80/p", []string{"http://h/p", "https://h/p"}},
		{"https://h:443/p", []string{"http://h/p", "https://h/p"}},
		{"http://h:443/p", []string{"http://h:443/p", "https://h/p"}},
		{"https://h:80/p", []string{"http://h/p", "https://h:80/p"}},
		{"https://[::1]:80/p", []string{"http://[::1]/p", "https://[::1]:80/p"}},
		{"HTTP://H.:0443/p", []string{"http://h:443/p", "https://h/p"}},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		tgt, err := ParseTarget(u.Scheme, u.Host, u)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if got, err := tgt.SchemeKeys(); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q %v, want %q", tt.url, got, err, tt.want)
		}
	}
}

func TestHostKeyPrefixes(t *testing.T) {
	tests := []struct {
		host string
		want []string
	}{
		{"Example.COM.", []string{"http://example.com/", "http://example.com:", "https://example.com/", "https://example.com:"}},
		{"h:8080", []string{"http://h:8080/", "https://h:8080/"}},
		{"H.example.:80", []string{"http://h.example/", "https://h.example:80/"}},
		{"h:0443", []string{"http://h:443/", "https://h/"}},
		{"[::1]:80", []string{"http://[::1]/", "https://[::1]:80/"}},
		{"[::1]", []string{"http://[::1]/", "http://[::1]:", "https://[::1]/", "https://[::1]:"}},
	}
	for _, tt := range tests {
		if got := HostKeyPrefixes(tt.host); !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.host, got, tt.want)
		}
	}
}

// FuzzKeyDerivationsDistinct: derivations of one primary key never spell
// the same key, for inputs as the edge makes them (a split name of cookie
// octets, claim values rendered name=%q;, a token coding, a field value
// without NUL or line breaks).
func FuzzKeyDerivationsDistinct(f *testing.F) {
	f.Add("canary", "tenant", "gzip", "Accept-Language", "en")
	f.Add("a", "~auth:", "ce", "Ce", "=br")
	f.Add("auth:x", "x", "br", "~canary", "")
	f.Fuzz(func(t *testing.T, split, claim, coding, field, value string) {
		if split == "" || strings.ContainsAny(split, "\x00\n\r;,\" \\") || !httpsyntax.IsToken(coding) ||
			!httpsyntax.IsToken(field) || strings.ContainsAny(value, "\x00\r\n") {
			return
		}
		const k Key = "http://h/p"
		name := textproto.CanonicalMIMEHeaderKey(field)
		keys := map[string]Key{
			"route":   k.Route(RouteID(claim)),
			"split":   k.Split(split),
			"auth":    k.AuthPartition(fmt.Sprintf("%s=%q;", "sub", claim)),
			"coding":  k.Encoding(coding),
			"pool":    k.Pool(coding), // a pool name is a token too
			"slice":   k.Slice(int64(len(value))),
			"variant": k.Variant([]string{name}, http.Header{name: {value}}),
			"absent":  k.Variant([]string{name}, http.Header{}),
		}
		seen := map[Key]string{}
		for what, key := range keys {
			if other, dup := seen[key]; dup {
				t.Fatalf("%s and %s both spell %q", what, other, key)
			}
			seen[key] = what
		}
	})
}

// TestKeyParse: Parse undoes every derivation, chained as the edge chains
// them.
func TestKeyParse(t *testing.T) {
	const k Key = "https://example.com/a?b=1"
	lang := http.Header{"Accept-Language": {"en"}}
	key := k.Route("ab12").Split("canary").AuthPartition(`sub="x";`).Variant([]string{"Accept-Language"}, lang).Encoding("br")
	primary, got := key.Parse()
	want := []Derivation{
		{"route", "~route;ab12"},
		{"split", "~canary"},
		{"auth", `~auth:sub="x";`},
		{"variant", "Accept-Language:=2:en\n"},
		{"encoding", "ce=br"},
	}
	if primary != k || !slices.Equal(got, want) {
		t.Errorf("Parse(%q) = %q, %q; want %q, %q", key, primary, got, k, want)
	}
	if primary, got := k.Flight("Bearer a", "alice").Parse(); primary != k ||
		!slices.Equal(got, []Derivation{{"authorization", "authorization\x00Bearer a"}, {"identity", "identity\x00alice"}}) {
		t.Errorf("flight key: %q %q", primary, got)
	}
	if primary, got := k.Pool("tenant-a").Encoding("br").Parse(); primary != k ||
		!slices.Equal(got, []Derivation{{"pool", "~pool;tenant-a"}, {"encoding", "ce=br"}}) {
		t.Errorf("pool key: %q %q", primary, got)
	}
	if primary, got := k.Variant(nil, lang).Parse(); primary != k || !slices.Equal(got, []Derivation{{"variant", ""}}) {
		t.Errorf("variant without names: %q %q", primary, got)
	}
	if primary, got := k.Slice(7).Parse(); primary != k || !slices.Equal(got, []Derivation{{"slice", "~slice;7"}}) {
		t.Errorf("slice key: %q %q", primary, got)
	}
	if !strings.HasPrefix(string(k.Slice(3)), k.SliceFamily()) || strings.HasPrefix(string(k.Split("x")), k.SliceFamily()) {
		t.Errorf("SliceFamily %q", k.SliceFamily())
	}
	if primary, got := k.Parse(); primary != k || got != nil {
		t.Errorf("primary key: %q %q", primary, got)
	}
}
