package forward

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"edged/edge/forward/rules"
)

// TestRulesEngineThroughTheProxy: the real rules engine behind the proxy,
// with a fake clock: the social category is refused on a weekday at
// 10:00 in Berlin (403 naming the rule), allowed on Sunday, and the
// request rate limit answers 429.
func TestRulesEngineThroughTheProxy(t *testing.T) {
	o := newOrigin(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	engine, err := rules.New(rules.Options{
		Categories: map[string]rules.Category{"social": {Domains: []string{"127.0.0.1"}}},
		List: []rules.Rule{{Name: "social-office-hours", Action: "deny", Categories: []string{"social"},
			Time: &rules.Window{Days: []string{"weekdays"}, From: "09:00", To: "17:00", Zone: "Europe/Berlin"}}},
		Limits: rules.Limits{Rate: 1, Burst: 2},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, berlin) // a Monday
	s := newStack(t, stackConfig{opts: Options{Rules: engine, Now: func() time.Time { return now }}})
	resp, _ := get(t, s.client(nil, "", ""), o.URL+"/")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(RuleHeader) != "social-office-hours" {
		t.Errorf("Monday 10:00: %d %q", resp.StatusCode, resp.Header.Get(RuleHeader))
	}
	now = time.Date(2026, 12, 6, 10, 0, 0, 0, berlin) // Sunday
	for i := range 3 {
		resp, body := get(t, s.client(nil, "", ""), o.URL+"/")
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests // a burst of 2, and the clock stands still
			// The page names what to change (it read "request rate limit
			// of rule limits").
			if !strings.Contains(body, "over this client's request rate (forward.rules.limits)") {
				t.Errorf("429 body %q does not name forward.rules.limits", body)
			}
		}
		if resp.StatusCode != want {
			t.Errorf("Sunday request %d: %d, want %d (%s=%q)", i, resp.StatusCode, want, RuleHeader, resp.Header.Get(RuleHeader))
		}
	}
}

// TestWholeDayWindowThroughTheProxy: "00:00" to "24:00" on listed days is
// whole days, a window an office writes for "no social sites on
// weekdays". It was refused as "equals from"; now the proxy denies all
// Monday, from its first minute to its last, and allows Sunday.
func TestWholeDayWindowThroughTheProxy(t *testing.T) {
	o := newOrigin(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	engine, err := rules.New(rules.Options{
		Categories: map[string]rules.Category{"social": {Domains: []string{"127.0.0.1"}}},
		List: []rules.Rule{{Name: "no-social-weekdays", Action: "deny", Categories: []string{"social"},
			Time: &rules.Window{Days: []string{"weekdays"}, From: "00:00", To: "24:00"}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	var now time.Time
	s := newStack(t, stackConfig{opts: Options{Rules: engine, Now: func() time.Time { return now }}})
	for _, tc := range []struct {
		at   time.Time
		want int
	}{
		{time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), http.StatusForbidden},   // Monday's first minute
		{time.Date(2026, 12, 7, 23, 59, 0, 0, time.UTC), http.StatusForbidden}, // its last
		{time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), http.StatusOK},         // Sunday
	} {
		now = tc.at
		resp, _ := get(t, s.client(nil, "", ""), o.URL+"/")
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d (%s=%q), want %d", tc.at.Format(time.RFC1123), resp.StatusCode, RuleHeader, resp.Header.Get(RuleHeader), tc.want)
		}
	}
}

// TestTunnelDialsDecidedAddress: with a dest_networks rule the proxy
// resolves the name for the rules; the tunnel then goes to exactly that
// address. The name is re-pointed on the second lookup to 127.0.0.1, which
// the rule denies (and the Dialer's exceptions would let through): the
// old code dialled by name, looked it up again and reached the denied
// server (200); now the dial goes to the decided 127.0.0.2, where nothing
// listens (502), and the name is looked up once.
func TestTunnelDialsDecidedAddress(t *testing.T) {
	port := echoServer(t) // on 127.0.0.1: the network the rule denies
	engine := newEngine(t, rules.Rule{Name: "no-internal", Action: "deny", DestNetworks: []string{"127.0.0.1/32"}})
	dns := newRebinder(t, netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1"))
	s := newStack(t, stackConfig{resolver: dns.resolver(), opts: Options{Rules: engine, ConnectPorts: ports(port)}})
	resp, _, _ := s.raw(t, fmt.Sprintf("CONNECT rebind.test:%d HTTP/1.1\r\nHost: rebind.test:%d\r\n\r\n", port, port))
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("tunnel to a re-pointed name: %d %q, want 502 (dialled the decided 127.0.0.2)", resp.StatusCode, resp.Header.Get(RuleHeader))
	}
	if q := dns.queries.Load(); q != 1 {
		t.Errorf("the name was resolved %d times, want once (for the rules only)", q)
	}
}

// TestFetchDialsDecidedAddress: as TestTunnelDialsDecidedAddress, for a
// plain-http absolute-form request, which the cache fetches: the old code
// fetched by name, looked it up again and reached the denied server (200);
// now the fetch connects to the decided 127.0.0.2 (502). A name that
// resolves to an allowed address is fetched from it with its own Host.
func TestFetchDialsDecidedAddress(t *testing.T) {
	o := newOrigin(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "denied server") })
	port := o.port()
	engine := newEngine(t, rules.Rule{Name: "no-internal", Action: "deny", DestNetworks: []string{"127.0.0.1/32"}})
	dns := newRebinder(t, netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1"))
	s := newStack(t, stackConfig{resolver: dns.resolver(), opts: Options{Rules: engine}})
	resp, _, _ := s.raw(t, fmt.Sprintf("GET http://rebind.test:%d/ HTTP/1.1\r\nHost: rebind.test:%d\r\n\r\n", port, port))
	if resp.StatusCode != http.StatusBadGateway || o.count() != 0 {
		t.Errorf("fetch of a re-pointed name: %d, origin reached %d times; want 502 (fetched from the decided 127.0.0.2)", resp.StatusCode, o.count())
	}
	if q := dns.queries.Load(); q != 1 {
		t.Errorf("the name was resolved %d times, want once (for the rules only)", q)
	}

	allowed := newEngine(t, rules.Rule{Name: "elsewhere", Action: "deny", DestNetworks: []string{"192.0.2.0/24"}})
	dns = newRebinder(t, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"))
	s = newStack(t, stackConfig{resolver: dns.resolver(), opts: Options{Rules: allowed}})
	resp, _, _ = s.raw(t, fmt.Sprintf("GET http://allowed.test:%d/x HTTP/1.1\r\nHost: allowed.test:%d\r\n\r\n", port, port))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("allowed fetch: %d", resp.StatusCode)
	}
	if got, _ := io.ReadAll(resp.Body); string(got) != "denied server" {
		t.Errorf("allowed fetch body %q", got)
	}
	if h := o.last(t).Host; h != fmt.Sprintf("allowed.test:%d", port) {
		t.Errorf("the origin got Host %q, want the name the client asked for", h)
	}
}

// TestDeniedNameNotLookedUp: with a dest_networks rule in the list, the
// proxy used to resolve every name before asking the rules, so a name a
// domain rule above it denies was still looked up (a DNS query that leaks
// what a client tried to reach, to a resolver a denied domain may run).
// Now the lookup waits until the rules' answer depends on the address.
func TestDeniedNameNotLookedUp(t *testing.T) {
	engine := newEngine(t,
		rules.Rule{Name: "no-blocked", Action: "deny", Domains: []string{"blocked.test"}},
		rules.Rule{Name: "no-internal", Action: "deny", DestNetworks: []string{"10.0.0.0/8"}})
	dns := newRebinder(t, netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.1.2.3"))
	s := newStack(t, stackConfig{resolver: dns.resolver(), opts: Options{Rules: engine}})
	for _, req := range []string{
		"GET http://blocked.test/ HTTP/1.1\r\nHost: blocked.test\r\n\r\n",
		"CONNECT blocked.test:443 HTTP/1.1\r\nHost: blocked.test:443\r\n\r\n",
	} {
		resp, _, _ := s.raw(t, req)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get(RuleHeader) != "no-blocked" {
			t.Errorf("%q: %d %q, want 403 no-blocked", req, resp.StatusCode, resp.Header.Get(RuleHeader))
		}
	}
	if q := dns.queries.Load(); q != 0 {
		t.Errorf("a denied name was looked up %d times, want none", q)
	}
	// Below the domain rule the address decides: it is looked up.
	resp, _, _ := s.raw(t, "GET http://internal.test/ HTTP/1.1\r\nHost: internal.test\r\n\r\n")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(RuleHeader) != "no-internal" {
		t.Errorf("internal.test: %d %q, want 403 no-internal", resp.StatusCode, resp.Header.Get(RuleHeader))
	}
	if q := dns.queries.Load(); q != 1 {
		t.Errorf("internal.test was looked up %d times, want once", q)
	}
}

// newEngine is a rules engine of list, closed when t ends.
func newEngine(t *testing.T, list ...rules.Rule) *rules.Engine {
	t.Helper()
	engine, err := rules.New(rules.Options{List: list}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	return engine
}
