package access

import (
	"net/netip"
	"net/url"
	"path"
	"strings"
	"testing"

	"edged/internal/ascii"
)

// FuzzCheck: arbitrary paths and user agents never panic, and no encoding
// trick reaches a denied path: whenever an origin that decodes once, drops
// ";params" and merges slashes (tomcatReading, written apart from
// Readings) reads the path as one under a denied prefix, Check refuses.
func FuzzCheck(f *testing.F) {
	for _, s := range []struct{ path, ua string }{
		{"/admin", "curl/8"}, {"/%61dmin/x", ""}, {"//admin", "BadBot"}, {"/a/../admin/", "x"},
		{"/%zz", "\xff\xfe"}, {"/private/./", "bAdBoT/1"}, {"", ""},
		{"/admin;x", ""}, {"/;x/admin", ""}, {"/admin;jsessionid=1", ""}, {"/ADMIN", ""}, {"/%2561dmin", ""},
		{"/x%2F..%2Fadmin", ""}, {"/x\\..\\admin", ""}, {"/private;a/b", ""}, {"/admin%3Bx", ""}, {"/.;/admin", ""},
	} {
		f.Add(s.path, s.ua)
	}
	p := mustCompile(f, Rules{DenyPaths: []string{"/admin", "/private/"}, BlockUserAgents: []string{"badbot"}})
	ip := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, path, ua string) {
		ok, reason := p.Check(ip, path, ua, monday10)
		if ok != (reason == "") {
			t.Fatalf("Check(%q, %q) = (%v, %q): ok and reason disagree", path, ua, ok, reason)
		}
		if r := tomcatReading(path); ok && (matchPath("/admin", r) || matchPath("/private/", r)) {
			t.Fatalf("Check(%q) passed, but an origin reads it as %q", path, r)
		}
		if ascii.ContainsFold(ua, "badbot") && ok {
			t.Fatalf("Check(ua %q) passed a blocked agent", ua)
		}
	})
}

// tomcatReading is one origin's reading of a path, built from the standard
// library so that the fuzzer checks Readings against an independent
// implementation: ";params" dropped from every segment, then percent-decoded
// once, "\" read as "/", cleaned, lower-cased.
func tomcatReading(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	p = strings.Join(segs, "/")
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	p = strings.ReplaceAll(p, "\\", "/")
	clean := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return strings.ToLower(clean)
}

// FuzzReadings: every reading of any path is absolute, has no empty or dot
// segment but a trailing "/" (RFC 3986 §5.2.4), and differs from the path;
// an absolute path without any of the characters readings act on has none.
func FuzzReadings(f *testing.F) {
	for _, s := range []string{"/admin;x", "/;x/admin/", "/a%2Fb", "/%2561", "/a/./b/..", `/a\b`, "/x.", "/%zz;", "", ";", "/. ./"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		readings := Readings(p)
		if strings.HasPrefix(p, "/") && !strings.ContainsAny(p, `%;\.`) && !strings.Contains(p, "//") && readings != nil {
			t.Fatalf("Readings(%q) = %q, want none", p, readings)
		}
		for _, r := range readings {
			if r == p || !strings.HasPrefix(r, "/") {
				t.Fatalf("Readings(%q) has %q", p, r)
			}
			segs := strings.Split(r[1:], "/")
			for i, s := range segs {
				if (s == "" && i != len(segs)-1) || s == "." || s == ".." {
					t.Fatalf("Readings(%q) has %q, with segment %d %q", p, r, i, s)
				}
			}
		}
	})
}
