package rules

import (
	"testing"
	"time"
)

// client is the request most cases start from: a loopback client asking
// for www.example.com:443 by CONNECT on Monday 10:00 UTC.
func client() Request {
	return Request{Client: addr("10.1.2.3"), Host: "www.example.com", Port: 443, Method: "CONNECT"}
}

type decideCase struct {
	name     string
	req      func(*Request) // changes to client(); nil keeps it
	now      time.Time      // zero: monday10
	allow    bool
	rule     string
	category string
}

func runDecide(t *testing.T, o Options, cases []decideCase) {
	t.Helper()
	e := newEngine(t, o)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := client()
			if tc.req != nil {
				tc.req(&r)
			}
			now := tc.now
			if now.IsZero() {
				now = monday10
			}
			d := e.Decide(r, now)
			if d.Allow != tc.allow || d.Rule != tc.rule || d.Category != tc.category {
				t.Errorf("Decide = {Allow:%v Rule:%q Category:%q}, want {Allow:%v Rule:%q Category:%q}",
					d.Allow, d.Rule, d.Category, tc.allow, tc.rule, tc.category)
			}
		})
	}
}

func host(h string) func(*Request) { return func(r *Request) { r.Host = h } }

// TestDecideDomains covers exact names, "*." and "." patterns, case and
// the trailing dot.
func TestDecideDomains(t *testing.T) {
	o := Options{Default: ActionAllow, List: []Rule{
		{Name: "exact", Action: ActionDeny, Domains: []string{"exact.test"}},
		{Name: "below", Action: ActionDeny, Domains: []string{"*.below.test"}},
		{Name: "zone", Action: ActionDeny, Domains: []string{".zone.test"}},
	}}
	runDecide(t, o, []decideCase{
		{name: "exact name", req: host("exact.test"), rule: "exact"},
		{name: "exact is not below", req: host("www.exact.test"), allow: true, rule: DefaultRule},
		{name: "exact upper case and root dot", req: host("EXACT.Test."), rule: "exact"},
		{name: "below: subdomain", req: host("a.b.below.test"), rule: "below"},
		{name: "below: not the apex", req: host("below.test"), allow: true, rule: DefaultRule},
		{name: "below: not a suffix without dot", req: host("xbelow.test"), allow: true, rule: DefaultRule},
		{name: "zone: apex", req: host("zone.test"), rule: "zone"},
		{name: "zone: below", req: host("x.zone.test"), rule: "zone"},
		{name: "zone: not a longer label", req: host("notzone.test"), allow: true, rule: DefaultRule},
		{name: "no match", req: host("other.test"), allow: true, rule: DefaultRule},
	})
}

// TestDecideCategories: inline and file domains, the category reported,
// and a category named by a rule versus the first by name.
func TestDecideCategories(t *testing.T) {
	dir := t.TempDir()
	social := writeList(t, dir, "social.txt", "# social networks\nfacebook.com\n\n  *.tiktok.com  # short videos\n")
	o := Options{
		Categories: map[string]Category{
			"social": {Domains: []string{"x.com"}, Files: []string{social}},
			"news":   {Domains: []string{".example.org"}},
			"all":    {Domains: []string{".example.org", "x.com"}},
		},
		List: []Rule{
			{Name: "no-social", Action: ActionDeny, Categories: []string{"social"}},
		},
	}
	runDecide(t, o, []decideCase{
		{name: "inline name", req: host("x.com"), rule: "no-social", category: "social"},
		{name: "file line covers the zone", req: host("www.facebook.com"), rule: "no-social", category: "social"},
		{name: "file apex", req: host("facebook.com"), rule: "no-social", category: "social"},
		{name: "file *. line: below", req: host("v.tiktok.com"), rule: "no-social", category: "social"},
		{name: "file *. line: not apex", req: host("tiktok.com"), allow: true, rule: DefaultRule},
		{name: "default reports the first category by name", req: host("www.example.org"), allow: true, rule: DefaultRule, category: "all"},
		{name: "uncategorised", req: host("golang.org"), allow: true, rule: DefaultRule},
	})
}

func TestDecideNetworksAndPorts(t *testing.T) {
	o := Options{Default: ActionDeny, List: []Rule{
		{Name: "no-meta", Action: ActionDeny, DestNetworks: []string{"169.254.169.254"}},
		{Name: "intranet", Action: ActionAllow, DestNetworks: []string{"10.20.0.0/16", "fd00::/8"}, Ports: []string{"80", "8000-8999"}},
		{Name: "web", Action: ActionAllow, Ports: []string{"443"}},
	}}
	at := func(h, a string, port int) func(*Request) {
		return func(r *Request) {
			r.Host, r.Port = h, port
			if a != "" {
				r.Addr = addr(a)
			}
		}
	}
	runDecide(t, o, []decideCase{
		{name: "metadata literal", req: at("169.254.169.254", "", 443), rule: "no-meta"},
		{name: "metadata by resolved name", req: at("meta.test", "169.254.169.254", 443), rule: "no-meta"},
		{name: "intranet port", req: at("wiki.corp", "10.20.1.1", 8080), allow: true, rule: "intranet"},
		{name: "intranet port 80", req: at("wiki.corp", "10.20.1.1", 80), allow: true, rule: "intranet"},
		{name: "intranet IPv6", req: at("wiki.corp", "fd12::1", 80), allow: true, rule: "intranet"},
		{name: "IPv4-mapped address", req: at("wiki.corp", "::ffff:10.20.1.1", 80), allow: true, rule: "intranet"},
		{name: "intranet, port outside", req: at("wiki.corp", "10.20.1.1", 9000), rule: DefaultRule},
		{name: "unresolved name never matches networks", req: at("wiki.corp", "", 8080), rule: DefaultRule},
		{name: "port rule", req: at("www.example.com", "93.184.215.14", 443), allow: true, rule: "web"},
		{name: "other port", req: at("www.example.com", "93.184.215.14", 25), rule: DefaultRule},
	})
	if !newEngine(t, o).NeedsAddr() {
		t.Error("NeedsAddr = false with dest_networks rules")
	}
	if newEngine(t, Options{List: []Rule{{Name: "p", Action: ActionDeny, Ports: []string{"25"}}}}).NeedsAddr() {
		t.Error("NeedsAddr = true without dest_networks rules")
	}
}

// NeedsAddrFor: the address is needed only when a dest_networks rule comes
// before the first rule that decides the request without it.
func TestNeedsAddrFor(t *testing.T) {
	e := newEngine(t, Options{List: []Rule{
		{Name: "no-blocked", Action: ActionDeny, Domains: []string{"blocked.test"}},
		{Name: "mail", Action: ActionDeny, Ports: []string{"25"}},
		{Name: "no-internal", Action: ActionDeny, DestNetworks: []string{"10.0.0.0/8"}},
		{Name: "web", Action: ActionAllow, Ports: []string{"443"}},
	}})
	now := time.Now()
	for _, c := range []struct {
		host string
		port int
		addr string
		want bool
	}{
		{"blocked.test", 443, "", false},       // decided by its domain
		{"a.blocked.test", 443, "", true},      // "blocked.test" is that name only
		{"other.test", 25, "", false},          // decided by its port
		{"other.test", 443, "", true},          // no-internal comes first
		{"other.test", 443, "10.0.0.1", false}, // the address is known
		{"10.0.0.1", 443, "", false},           // a literal is its own address
	} {
		r := Request{Host: c.host, Port: c.port}
		if c.addr != "" {
			r.Addr = addr(c.addr)
		}
		if got := e.NeedsAddrFor(r, now); got != c.want {
			t.Errorf("NeedsAddrFor(%s:%d, addr %q) = %v, want %v", c.host, c.port, c.addr, got, c.want)
		}
	}
	if newEngine(t, Options{List: []Rule{{Name: "p", Action: ActionDeny, Ports: []string{"25"}}}}).NeedsAddrFor(Request{Host: "x.test", Port: 443}, now) {
		t.Error("NeedsAddrFor = true without dest_networks rules")
	}
}

func TestDecideClientsUsersGroupsMethods(t *testing.T) {
	o := Options{
		Default: ActionDeny,
		Groups:  map[string][]string{"staff": {"alice", "bob"}},
		List: []Rule{
			{Name: "banned", Action: ActionDeny, ClientNetworks: []string{"10.9.0.0/16"}},
			{Name: "carol", Action: ActionAllow, Users: []string{"carol"}},
			{Name: "staff", Action: ActionAllow, Groups: []string{"staff"}},
			{Name: "office-get", Action: ActionAllow, ClientNetworks: []string{"10.1.0.0/16", "2001:db8::/32"}, Methods: []string{"GET"}},
		},
	}
	as := func(client, user string, groups []string, method string) func(*Request) {
		return func(r *Request) {
			r.Client, r.User, r.Groups, r.Method = addr(client), user, groups, method
		}
	}
	runDecide(t, o, []decideCase{
		{name: "banned network wins over user", req: as("10.9.1.1", "carol", nil, "GET"), rule: "banned"},
		{name: "banned as IPv4-mapped", req: as("::ffff:10.9.1.1", "", nil, "GET"), rule: "banned"},
		{name: "user", req: as("192.0.2.1", "carol", nil, "CONNECT"), allow: true, rule: "carol"},
		{name: "user names are case-sensitive", req: as("192.0.2.1", "Carol", nil, "CONNECT"), rule: DefaultRule},
		{name: "group from options", req: as("192.0.2.1", "bob", nil, "CONNECT"), allow: true, rule: "staff"},
		{name: "group from the request", req: as("192.0.2.1", "dave", []string{"staff"}, "CONNECT"), allow: true, rule: "staff"},
		{name: "no user, no group", req: as("192.0.2.1", "", nil, "CONNECT"), rule: DefaultRule},
		{name: "office GET", req: as("10.1.5.5", "", nil, "GET"), allow: true, rule: "office-get"},
		{name: "office GET IPv6", req: as("2001:db8::5", "", nil, "GET"), allow: true, rule: "office-get"},
		{name: "office CONNECT", req: as("10.1.5.5", "", nil, "CONNECT"), rule: DefaultRule},
	})
}

// TestDecideFirstMatchWins: rules that overlap decide by their order,
// whichever kind they are, and a later rule is never consulted.
func TestDecideFirstMatchWins(t *testing.T) {
	social := Category{Domains: []string{".social.test"}}
	deny := Rule{Name: "deny-social", Action: ActionDeny, Categories: []string{"social"}}
	allowStaff := Rule{Name: "allow-alice", Action: ActionAllow, Users: []string{"alice"}}
	req := func(r *Request) { r.Host, r.User = "www.social.test", "alice" }
	for _, tc := range []struct {
		name  string
		list  []Rule
		allow bool
		rule  string
	}{
		{"deny first", []Rule{deny, allowStaff}, false, "deny-social"},
		{"allow first", []Rule{allowStaff, deny}, true, "allow-alice"},
		{"none matches: default", []Rule{{Name: "other", Action: ActionAllow, Ports: []string{"80"}}}, false, DefaultRule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Default: ActionDeny, Categories: map[string]Category{"social": social}, List: tc.list}
			runDecide(t, o, []decideCase{{name: "request", req: req, allow: tc.allow, rule: tc.rule, category: "social"}})
		})
	}
}

func TestDecideDefault(t *testing.T) {
	for _, tc := range []struct {
		def   string
		allow bool
	}{{"", true}, {ActionAllow, true}, {ActionDeny, false}} {
		d := newEngine(t, Options{Default: tc.def}).Decide(client(), monday10)
		if d.Allow != tc.allow || d.Rule != DefaultRule {
			t.Errorf("Default %q: Decide = %+v, want Allow %v, Rule %q", tc.def, d, tc.allow, DefaultRule)
		}
	}
	var zero Decision
	if zero.Allow {
		t.Error("the zero Decision allows")
	}
}

// TestDecideAllocations: Decide runs per request, on the cache-hit path
// of the proxy too, so it must not allocate.
func TestDecideAllocations(t *testing.T) {
	e := newEngine(t, Options{
		Categories: map[string]Category{"social": {Domains: []string{".social.test"}}},
		List: []Rule{
			{Name: "a", Action: ActionDeny, Categories: []string{"social"}, Time: &Window{Days: []string{"weekdays"}, From: "09:00", To: "17:00", Zone: "Europe/Berlin"}},
			{Name: "b", Action: ActionDeny, Users: []string{"x"}},
		},
		Limits: Limits{Rate: 1e9, Bandwidth: "1GiB"},
	})
	r := client()
	r.Host = "www.social.test" // as the proxy passes it: lower case
	if n := testing.AllocsPerRun(100, func() { e.Decide(r, monday10) }); n != 0 {
		t.Errorf("Decide allocates %v times per call, want 0", n)
	}
}
