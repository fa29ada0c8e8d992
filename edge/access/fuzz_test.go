package access

import (
	"net/netip"
	"testing"
)

// FuzzCheck: arbitrary paths and user agents never panic, and no encoding
// trick reaches a denied path: whenever the decoded, cleaned form of the
// path is under "/admin", Check refuses.
func FuzzCheck(f *testing.F) {
	for _, s := range []struct{ path, ua string }{
		{"/admin", "curl/8"}, {"/%61dmin/x", ""}, {"//admin", "BadBot"}, {"/a/../admin/", "x"},
		{"/%zz", "\xff\xfe"}, {"/private/./", "bAdBoT/1"}, {"", ""},
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
		if _, clean := pathForms(path); clean != "" && matchPath("/admin", clean) && ok {
			t.Fatalf("Check(%q) passed, but it cleans to %q", path, clean)
		}
		if containsFold(ua, "badbot") && ok {
			t.Fatalf("Check(ua %q) passed a blocked agent", ua)
		}
	})
}
