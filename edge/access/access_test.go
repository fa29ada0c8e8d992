package access

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"edged/internal/fielderr"
	"edged/internal/fielderr/fieldtest"
)

func mustCompile(tb testing.TB, r Rules) *Policy {
	tb.Helper()
	p, err := Compile(r)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return p
}

func prefixes(tb testing.TB, ss ...string) []netip.Prefix {
	tb.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// monday10 is Monday 2024-01-08 10:00 UTC.
var monday10 = time.Date(2024, 1, 8, 10, 0, 0, 0, time.UTC)

type checkCase struct {
	name   string
	ip     string
	path   string
	ua     string
	now    time.Time
	want   bool
	reason string
}

func runChecks(t *testing.T, p *Policy, tests []checkCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			now := tt.now
			if now.IsZero() {
				now = monday10
			}
			path := tt.path
			if path == "" {
				path = "/"
			}
			ok, reason := p.Check(ip, path, tt.ua, now)
			if ok != tt.want || reason != tt.reason {
				t.Errorf("Check = (%v, %q), want (%v, %q)", ok, reason, tt.want, tt.reason)
			}
		})
	}
}

func TestCheckNetworks(t *testing.T) {
	p := mustCompile(t, Rules{
		Allow: prefixes(t, "10.0.0.0/8", "2001:db8::/32"),
		Deny:  prefixes(t, "10.6.0.0/16", "2001:db8:bad::/48"),
	})
	runChecks(t, p, []checkCase{
		{name: "in allow", ip: "10.1.2.3", want: true},
		{name: "outside allow", ip: "192.0.2.1", reason: ReasonNetworkNotAllowed},
		{name: "deny wins over allow", ip: "10.6.1.1", reason: ReasonNetworkDenied},
		{name: "IPv6 in allow", ip: "2001:db8:1::1", want: true},
		{name: "IPv6 deny wins", ip: "2001:db8:bad::1", reason: ReasonNetworkDenied},
		{name: "IPv4-mapped client matches IPv4 rule", ip: "::ffff:10.1.2.3", want: true},
		{name: "IPv4-mapped client denied", ip: "::ffff:10.6.0.1", reason: ReasonNetworkDenied},
	})
}

func TestCheckDenyOnly(t *testing.T) {
	p := mustCompile(t, Rules{Deny: prefixes(t, "192.0.2.0/24", "::ffff:198.51.100.0/120")})
	runChecks(t, p, []checkCase{
		{name: "not denied passes without an allow list", ip: "203.0.113.1", want: true},
		{name: "denied", ip: "192.0.2.77", reason: ReasonNetworkDenied},
		{name: "IPv4-mapped rule matches IPv4 client", ip: "198.51.100.3", reason: ReasonNetworkDenied},
	})
}

func TestCheckPaths(t *testing.T) {
	p := mustCompile(t, Rules{DenyPaths: []string{"/admin", "/private/", "/x.php"}})
	runChecks(t, p, []checkCase{
		{name: "exact", ip: "192.0.2.1", path: "/admin", reason: ReasonPathDenied},
		{name: "below", ip: "192.0.2.1", path: "/admin/users", reason: ReasonPathDenied},
		{name: "segment boundary", ip: "192.0.2.1", path: "/administrator", want: true},
		{name: "trailing slash prefix: below", ip: "192.0.2.1", path: "/private/a", reason: ReasonPathDenied},
		{name: "trailing slash prefix: the bare dir is not below", ip: "192.0.2.1", path: "/private", want: true},
		{name: "case folded (IIS, Express serve /Admin as /admin)", ip: "192.0.2.1", path: "/Admin", reason: ReasonPathDenied},
		{name: "path parameter on the segment (Tomcat, Jetty, Spring)", ip: "192.0.2.1", path: "/admin;x", reason: ReasonPathDenied},
		{name: "path parameter on an earlier segment", ip: "192.0.2.1", path: "/;x/admin", reason: ReasonPathDenied},
		{name: "jsessionid", ip: "192.0.2.1", path: "/admin;jsessionid=1", reason: ReasonPathDenied},
		{name: "parameter below a slash prefix", ip: "192.0.2.1", path: "/private;a/b", reason: ReasonPathDenied},
		{name: "parameter on the slash prefix's last segment", ip: "192.0.2.1", path: "/private/;a", reason: ReasonPathDenied},
		{name: "encoded semicolon", ip: "192.0.2.1", path: "/admin%3Bx", reason: ReasonPathDenied},
		{name: "encoded slash", ip: "192.0.2.1", path: "/admin%2Fusers", reason: ReasonPathDenied},
		{name: "encoded backslash", ip: "192.0.2.1", path: "/x%5C..%5Cadmin", reason: ReasonPathDenied},
		{name: "double encoding", ip: "192.0.2.1", path: "/%2561dmin", reason: ReasonPathDenied},
		{name: "dot segment hidden by a parameter", ip: "192.0.2.1", path: "/x/..;/admin", reason: ReasonPathDenied},
		{name: "trailing dot (Windows drops it)", ip: "192.0.2.1", path: "/admin.", reason: ReasonPathDenied},
		{name: "trailing dot and space below", ip: "192.0.2.1", path: "/admin. %20/x", reason: ReasonPathDenied},
		{name: "dot segment with a trailing space", ip: "192.0.2.1", path: "/x/.. /admin", reason: ReasonPathDenied},
		{name: "leading spaces (Spring's trimTokens drops them)", ip: "192.0.2.1", path: "/%20%20admin/x", reason: ReasonPathDenied},
		{name: "a segment of spaces passes", ip: "192.0.2.1", path: "/%20/x", want: true},
		{name: "a segment of spaces is dropped (Spring ignores the empty token)", ip: "192.0.2.1", path: "/%20/admin/x", reason: ReasonPathDenied},
		{name: "a segment of tabs and spaces encoded twice", ip: "192.0.2.1", path: "/%2509%20/admin", reason: ReasonPathDenied},
		{name: "whitespace encoded twice (Spring's trimTokens)", ip: "192.0.2.1", path: "/admin%2509/x", reason: ReasonPathDenied},
		{name: "leading whitespace encoded twice", ip: "192.0.2.1", path: "/%250Aadmin", reason: ReasonPathDenied},
		{name: "dotted name passes", ip: "192.0.2.1", path: "/admin.html", want: true},
		{name: "parameter elsewhere passes", ip: "192.0.2.1", path: "/shop;jsessionid=1/cart", want: true},
		{name: "parameter does not join segments", ip: "192.0.2.1", path: "/admin;x/../public", want: true},
		{name: "percent-encoded bypass (RFC 3986 §6.2.2.2)", ip: "192.0.2.1", path: "/%61dmin", reason: ReasonPathDenied},
		{name: "double slash bypass", ip: "192.0.2.1", path: "//admin/x", reason: ReasonPathDenied},
		{name: "dot segment bypass (RFC 3986 §5.2.4)", ip: "192.0.2.1", path: "/public/../admin", reason: ReasonPathDenied},
		{name: "dot segment into a slash prefix", ip: "192.0.2.1", path: "/./private/", reason: ReasonPathDenied},
		{name: "other path", ip: "192.0.2.1", path: "/index.html", want: true},
		{name: "file", ip: "192.0.2.1", path: "/x.php", reason: ReasonPathDenied},
	})
}

func TestCheckUserAgents(t *testing.T) {
	p := mustCompile(t, Rules{BlockUserAgents: []string{"BadBot", "curl/"}})
	runChecks(t, p, []checkCase{
		{name: "substring", ip: "192.0.2.1", ua: "Mozilla/5.0 (compatible; BadBot/2.1)", reason: ReasonUserAgentBlocked},
		{name: "case-insensitive", ip: "192.0.2.1", ua: "BADBOT", reason: ReasonUserAgentBlocked},
		{name: "second pattern", ip: "192.0.2.1", ua: "curl/8.5.0", reason: ReasonUserAgentBlocked},
		{name: "browser passes", ip: "192.0.2.1", ua: "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0", want: true},
		{name: "empty UA passes", ip: "192.0.2.1", ua: "", want: true},
		{name: "near miss", ip: "192.0.2.1", ua: "Bad Bot", want: true},
	})
}

func TestCheckWindows(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	at := func(day, hh, mm int, loc *time.Location) time.Time {
		// 2024-01-07 is a Sunday, so day 7 is Sunday, 8 Monday, ... 13 Saturday.
		return time.Date(2024, 1, day, hh, mm, 0, 0, loc)
	}
	p := mustCompile(t, Rules{Windows: []Window{
		// Office hours on weekdays in Berlin: /games closed.
		{Paths: []string{"/games"}, Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
			From: "09:00", To: "17:00", Location: berlin},
		// Friday night maintenance, across midnight, every path under /api.
		{Paths: []string{"/api"}, Days: []time.Weekday{time.Friday}, From: "22:00", To: "02:00", Action: ActionDeny},
		// /reports only open until the end of each day from 06:00 (UTC).
		{Paths: []string{"/reports"}, From: "06:00", To: "24:00", Action: ActionAllow},
		// /shop closed all day at weekends: "00:00" to "24:00" is whole
		// days (it was refused as "equals from").
		{Paths: []string{"/shop"}, Days: []time.Weekday{time.Saturday, time.Sunday}, From: "00:00", To: "24:00"},
	}})
	runChecks(t, p, []checkCase{
		{name: "office hours closed", ip: "192.0.2.1", path: "/games/1", now: at(8, 10, 0, berlin), reason: ReasonWindowDenied},
		{name: "window start inclusive", ip: "192.0.2.1", path: "/games", now: at(8, 9, 0, berlin), reason: ReasonWindowDenied},
		{name: "window end exclusive", ip: "192.0.2.1", path: "/games", now: at(8, 17, 0, berlin), want: true},
		{name: "before office hours", ip: "192.0.2.1", path: "/games", now: at(8, 8, 59, berlin), want: true},
		{name: "time zone applied: 08:30 UTC is 09:30 Berlin", ip: "192.0.2.1", path: "/games", now: at(8, 8, 30, time.UTC), reason: ReasonWindowDenied},
		{name: "weekend open", ip: "192.0.2.1", path: "/games", now: at(13, 10, 0, berlin), want: true},
		{name: "other path open", ip: "192.0.2.1", path: "/news", now: at(8, 10, 0, berlin), want: true},
		{name: "Friday 23:00 inside", ip: "192.0.2.1", path: "/api/v1", now: at(12, 23, 0, time.UTC), reason: ReasonWindowDenied},
		{name: "across midnight: Saturday 01:59 inside", ip: "192.0.2.1", path: "/api/v1", now: at(13, 1, 59, time.UTC), reason: ReasonWindowDenied},
		{name: "across midnight: Saturday 02:00 outside", ip: "192.0.2.1", path: "/api/v1", now: at(13, 2, 0, time.UTC), want: true},
		{name: "Thursday 23:00 outside (wrong day)", ip: "192.0.2.1", path: "/api", now: at(11, 23, 0, time.UTC), want: true},
		{name: "Friday 01:00 outside (window opens Friday night)", ip: "192.0.2.1", path: "/api", now: at(12, 1, 0, time.UTC), want: true},
		{name: "allow window: inside", ip: "192.0.2.1", path: "/reports", now: at(9, 23, 59, time.UTC), want: true},
		{name: "allow window: outside refused", ip: "192.0.2.1", path: "/reports", now: at(9, 5, 0, time.UTC), reason: ReasonWindowDenied},
		{name: "whole day: Saturday 00:00", ip: "192.0.2.1", path: "/shop", now: at(13, 0, 0, time.UTC), reason: ReasonWindowDenied},
		{name: "whole day: Sunday 23:59", ip: "192.0.2.1", path: "/shop", now: at(7, 23, 59, time.UTC), reason: ReasonWindowDenied},
		{name: "whole day: Monday 00:00 open", ip: "192.0.2.1", path: "/shop", now: at(8, 0, 0, time.UTC), want: true},
		{name: "whole day: Friday 23:59 open", ip: "192.0.2.1", path: "/shop", now: at(12, 23, 59, time.UTC), want: true},
	})
}

func TestCompileErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name  string
		rules Rules
		field string
	}{
		{"invalid allow prefix", Rules{Allow: []netip.Prefix{{}}}, "Allow[0]"},
		{"invalid deny prefix", Rules{Deny: append(prefixes(t, "10.0.0.0/8"), netip.Prefix{})}, "Deny[1]"},
		{"relative path", Rules{DenyPaths: []string{"admin"}}, "DenyPaths[0]"},
		{"path parameter", Rules{DenyPaths: []string{"/a", "/admin;x"}}, "DenyPaths[1]"},
		{"dot segment", Rules{DenyPaths: []string{"/a/%2e%2e"}}, "DenyPaths[0]"},
		{"backslash", Rules{DenyPaths: []string{`/a\b`}}, "DenyPaths[0]"},
		{"empty UA", Rules{BlockUserAgents: []string{"x", ""}}, "BlockUserAgents[1]"},
		{"bad From", Rules{Windows: []Window{{From: "9:00", To: "17:00"}}}, "Windows[0].From"},
		{"bad To", Rules{Windows: []Window{{From: "09:00", To: "25:00"}}}, "Windows[0].To"},
		{"24:00 only as To", Rules{Windows: []Window{{From: "24:00", To: "01:00"}}}, "Windows[0].From"},
		{"minutes out of range", Rules{Windows: []Window{{From: "09:60", To: "10:00"}}}, "Windows[0].From"},
		{"From equals To", Rules{Windows: []Window{{From: "09:00", To: "09:00"}}}, "Windows[0].To"},
		{"00:00 to 00:00", Rules{Windows: []Window{{From: "00:00", To: "00:00"}}}, "Windows[0].To"},
		{"bad action", Rules{Windows: []Window{{From: "09:00", To: "10:00", Action: "block"}}}, "Windows[0].Action"},
		{"bad day", Rules{Windows: []Window{{From: "09:00", To: "10:00", Days: []time.Weekday{7}}}}, "Windows[0].Days[0]"},
		{"window path", Rules{Windows: []Window{{From: "09:00", To: "10:00"}, {Paths: []string{"x"}, From: "09:00", To: "10:00"}}}, "Windows[1].Paths[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.rules)
			if !errors.Is(err, ErrInvalidRules) || !strings.Contains(err.Error(), tt.field+":") {
				t.Errorf("Compile err = %v, want ErrInvalidRules naming %s", err, tt.field)
			}
		})
	}
}

func TestZeroRulesAllowEverything(t *testing.T) {
	p := mustCompile(t, Rules{})
	if ok, reason := p.Check(netip.Addr{}, "/", "", monday10); !ok {
		t.Errorf("Check = false (%s), want true", reason)
	}
}

func BenchmarkCheck(b *testing.B) {
	p := mustCompile(b, Rules{
		Allow:           prefixes(b, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "2001:db8::/32"),
		Deny:            prefixes(b, "10.6.0.0/16", "10.7.0.0/16", "2001:db8:bad::/48"),
		DenyPaths:       []string{"/admin", "/private/", "/wp-login.php"},
		BlockUserAgents: []string{"badbot", "sqlmap", "nikto"},
		Windows:         []Window{{Paths: []string{"/games"}, From: "09:00", To: "17:00"}},
	})
	ua := "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
	for _, bc := range []struct{ name, ip, path string }{
		{"pass", "192.168.1.20", "/static/app.js"},
		{"deny-ip", "10.6.1.1", "/"},
		{"unnormalized-path", "192.168.1.20", "/static/../%61pp.js"},
	} {
		ip := netip.MustParseAddr(bc.ip)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = p.Check(ip, bc.path, ua, monday10)
			}
		})
	}
}

// Rules are read as request paths are: decoded, lower case.
func TestCheckRulesReadLikePaths(t *testing.T) {
	p := mustCompile(t, Rules{DenyPaths: []string{"/%41dmin/", "/Wp-Login.php"}})
	runChecks(t, p, []checkCase{
		{name: "decoded rule", ip: "192.0.2.1", path: "/admin/x", reason: ReasonPathDenied},
		{name: "lower-cased rule", ip: "192.0.2.1", path: "/wp-login.php", reason: ReasonPathDenied},
		{name: "other", ip: "192.0.2.1", path: "/wp-login.phpx", want: true},
	})
}

func TestReadings(t *testing.T) {
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/plain/path", nil},
		{"/admin;x", []string{"/admin"}},
		{"/;x/admin/", []string{"/admin/"}},
		{"/a%3Bb/c", []string{"/a/c", "/a;b/c"}},
		{"/a%2Fb", []string{"/a/b"}},
		{"/a/./b/..", []string{"/a/"}},
	} {
		got := Readings(tt.path)
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("Readings(%q) = %q, missing %q", tt.path, got, w)
			}
		}
		if tt.want == nil && got != nil {
			t.Errorf("Readings(%q) = %q, want nil", tt.path, got)
		}
	}
}

// TestRulesValidate checks that every problem of the rules is reported at
// once, each naming its field.
func TestRulesValidate(t *testing.T) {
	valid := func() Rules {
		return Rules{Allow: prefixes(t, "10.0.0.0/8"), DenyPaths: []string{"/a"}, BlockUserAgents: []string{"bot"},
			Windows: []Window{{Paths: []string{"/b"}, Days: []time.Weekday{time.Monday}, From: "09:00", To: "17:00"}}}
	}
	fieldtest.Run(t, valid, []fieldtest.Case[Rules]{
		{Path: "Deny[0]", Bad: func(r *Rules) { r.Deny = []netip.Prefix{{}} }},
		{Path: "DenyPaths[0]", Bad: func(r *Rules) { r.DenyPaths[0] = "a" }},
		{Path: "BlockUserAgents[0]", Bad: func(r *Rules) { r.BlockUserAgents[0] = " " }},
		{Path: "Windows[0].Paths[0]", Bad: func(r *Rules) { r.Windows[0].Paths = []string{"/b/.."} }},
		{Path: "Windows[0].Days[0]", Bad: func(r *Rules) { r.Windows[0].Days = []time.Weekday{-1} }},
		{Path: "Windows[0].From", Bad: func(r *Rules) { r.Windows[0].From = "" }},
		{Path: "Windows[0].To", Bad: func(r *Rules) { r.Windows[0].To = "09:00" }},
		{Path: "Windows[0].Action", Bad: func(r *Rules) { r.Windows[0].Action = "block" }},
	})
	bad := Rules{DenyPaths: []string{"x"}, Windows: []Window{{From: "9", To: "10:00"}}}
	if got := len(fielderr.All(bad.Validate())); got != 2 {
		t.Errorf("Validate reported %d problems, want both", got)
	}
}

// TestCheckPath: CheckPath judges a second path of a request Check let
// through by the path rules alone, and agrees with Check on it: deny
// paths (in every reading) and the windows that name paths refuse it; the
// client's network, user agent and a pathless window, judged once by
// Check, are not asked again.
func TestCheckPath(t *testing.T) {
	night := time.Date(2024, 1, 8, 23, 0, 0, 0, time.UTC)
	day := time.Date(2024, 1, 8, 12, 0, 0, 0, time.UTC)
	p := mustCompile(t, Rules{
		Deny:            []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		DenyPaths:       []string{"/internal"},
		BlockUserAgents: []string{"bot"},
		Windows: []Window{
			{Paths: []string{"/reports"}, From: "06:00", To: "22:00", Action: ActionAllow},
			{From: "03:00", To: "04:00"}, // every path, never at the times below
		},
	})
	client := netip.MustParseAddr("192.0.2.1")
	for _, tt := range []struct {
		path   string
		now    time.Time
		reason string // "" allowed
	}{
		{"/internal/x", day, ReasonPathDenied},
		{"/%69nternal", day, ReasonPathDenied},
		{"/INTERNAL;x", day, ReasonPathDenied},
		{"/reports", night, ReasonWindowDenied},
		{"/reports", day, ""},
		{"/public", night, ""},
	} {
		ok, reason := p.CheckPath(tt.path, tt.now)
		if ok != (tt.reason == "") || reason != tt.reason {
			t.Errorf("CheckPath(%q, %v) = %v %q, want %q", tt.path, tt.now, ok, reason, tt.reason)
		}
		if cok, creason := p.Check(client, tt.path, "", tt.now); cok != ok || creason != reason {
			t.Errorf("Check(%q) = %v %q, CheckPath = %v %q: they disagree", tt.path, cok, creason, ok, reason)
		}
	}
	// What Check judged already is not judged again.
	if ok, reason := p.CheckPath("/public", time.Date(2024, 1, 8, 3, 30, 0, 0, time.UTC)); !ok {
		t.Errorf("CheckPath in a pathless window: %q, want it left to Check", reason)
	}
}
