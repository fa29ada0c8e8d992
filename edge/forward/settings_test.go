package forward

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReconfigure: new settings apply to the next request (ports,
// removed and set fields, realm), through a real listener; settings that
// fail Prepare are refused with every problem and never reach the proxy.
func TestReconfigure(t *testing.T) {
	o := newOrigin(t, false, func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Cache-Control", "no-store") })
	s := newStack(t, stackConfig{opts: Options{HTTPPorts: ports(o.port())}})
	c := s.client(nil, "", "")
	if resp, _ := get(t, c, o.URL+"/a", "X-Secret", "s"); resp.StatusCode != http.StatusOK || o.last(t).Header.Get("X-Secret") != "s" {
		t.Fatalf("before: %d, X-Secret %q", resp.StatusCode, o.last(t).Header.Get("X-Secret"))
	}
	next, err := Prepare(Options{HTTPPorts: ports(o.port()), RemoveHeaders: []string{"X-Secret"}, SetHeaders: map[string]string{"X-Set": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	s.proxy.Reconfigure(next)
	if resp, _ := get(t, c, o.URL+"/b", "X-Secret", "s"); resp.StatusCode != http.StatusOK || o.last(t).Header.Get("X-Secret") != "" || o.last(t).Header.Get("X-Set") != "1" {
		t.Errorf("after: %d, X-Secret %q, X-Set %q; want the field removed and X-Set: 1", resp.StatusCode, o.last(t).Header.Get("X-Secret"), o.last(t).Header.Get("X-Set"))
	}
	next, err = Prepare(Options{HTTPPorts: ports(80)})
	if err != nil {
		t.Fatal(err)
	}
	s.proxy.Reconfigure(next)
	if resp, _ := get(t, c, o.URL+"/c"); resp.StatusCode != http.StatusForbidden || resp.Header.Get(RuleHeader) != "http_ports" {
		t.Errorf("a port no longer allowed: %d %s, want 403 http_ports", resp.StatusCode, resp.Header.Get(RuleHeader))
	}

	_, err = Prepare(Options{ConnectPorts: []string{"x"}, Realm: `a"b`})
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Field != "ConnectPorts[0]" {
		t.Errorf("Prepare of bad options = %v, want ConnectPorts[0] named", err)
	}
}

// TestDialerReconfigure: a Dialer's Allow and Timeout change for the next
// dial and check; the listeners it refuses stay refused.
func TestDialerReconfigure(t *testing.T) {
	d := NewDialer(DialerOptions{Allow: loopback})
	own := netip.MustParseAddrPort("127.0.0.1:3128")
	d.RefuseListener(net.TCPAddrFromAddrPort(own))
	dest := netip.MustParseAddrPort("127.0.0.1:8080")
	if err := d.Check(dest); err != nil {
		t.Fatalf("allowed loopback refused: %v", err)
	}
	d.Reconfigure(DialerOptions{})
	if err := d.Check(dest); !errors.Is(err, ErrRefusedDestination) {
		t.Errorf("loopback after Allow was emptied: %v, want refused", err)
	}
	if got := d.policy.Load().timeout; got != DefaultDialTimeout {
		t.Errorf("timeout %v after a zero Timeout, want the default %v", got, DefaultDialTimeout)
	}
	d.Reconfigure(DialerOptions{Allow: loopback})
	if err := d.Check(own); !errors.Is(err, ErrRefusedDestination) {
		t.Errorf("the proxy's own listener after Reconfigure: %v, want refused", err)
	}
}

// allowAll are rules that let every request through without its address.
type allowAll struct{}

// boxedRules are LiveRules a test replaces at will (a reload).
type boxedRules struct{ cur atomic.Pointer[Rules] }

func (b *boxedRules) Current() Rules { return *b.cur.Load() }
func (b *boxedRules) use(r Rules)    { b.cur.Store(&r) }
func (b *boxedRules) Decide(req RuleRequest, now time.Time) RuleDecision {
	return b.Current().Decide(req, now)
}
func (b *boxedRules) NeedsAddrFor(req RuleRequest, now time.Time) bool {
	return b.Current().NeedsAddrFor(req, now)
}

func (allowAll) Decide(RuleRequest, time.Time) RuleDecision {
	return RuleDecision{Allow: true, Rule: "allow-all"}
}
func (allowAll) NeedsAddrFor(RuleRequest, time.Time) bool { return false }

// TestReloadWhileRequestAdmitted: a request is judged by the settings and
// the rules of one configuration, even when a reload replaces both while
// it is under way. The old configuration admits loopback clients and its
// rules deny everything; the new one admits no loopback client and its
// rules allow everything: each refuses the request. Before, the proxy
// read the settings as the request arrived and the rules only after the
// client's authentication (which can take a bcrypt comparison), so a
// reload in between judged the request by the old clients and the new
// rules, and let it through. The reload is injected at the proxy's first
// clock reading, after the settings are read (fault injection).
func TestReloadWhileRequestAdmitted(t *testing.T) {
	o := newOrigin(t, false, func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Cache-Control", "no-store") })
	live := &boxedRules{}
	live.use(&reloadRules{denyAll: true})
	next, err := Prepare(Options{Clients: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	if err != nil {
		t.Fatal(err)
	}
	var proxy atomic.Pointer[Proxy]
	var armed atomic.Bool
	now := func() time.Time {
		if armed.CompareAndSwap(true, false) {
			// The reload, as useForward applies it: the rules, then the
			// proxy's settings.
			live.use(allowAll{})
			proxy.Load().Reconfigure(next)
		}
		return time.Now()
	}
	s := newStack(t, stackConfig{opts: Options{Rules: live, Now: now, HTTPPorts: ports(o.port())}})
	proxy.Store(s.proxy)
	armed.Store(true)
	resp, body := get(t, s.client(nil, "", ""), o.URL+"/")
	if armed.Load() {
		t.Fatal("the reload was not injected: the proxy read no clock")
	}
	if resp.StatusCode != http.StatusForbidden || o.count() != 0 {
		t.Errorf("a request judged across a reload: %d %q (%s=%q), want 403: both configurations refuse it",
			resp.StatusCode, body, RuleHeader, resp.Header.Get(RuleHeader))
	}
}

// instantRules record the times they are asked at: a rule whose time
// window ends between the two questions about one request would answer
// them for two instants (no address needed while a time rule decides,
// then a decision without the address once it no longer does).
type instantRules struct {
	mu    sync.Mutex
	asked []time.Time
}

func (r *instantRules) note(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, now)
}
func (r *instantRules) NeedsAddrFor(_ RuleRequest, now time.Time) bool { r.note(now); return true }
func (r *instantRules) Decide(_ RuleRequest, now time.Time) RuleDecision {
	r.note(now)
	return RuleDecision{Allow: true, Rule: "instant"}
}

// TestRulesAskedAtOneInstant: both questions about a request are asked
// for one instant, on a clock that moves at every reading. Before, each
// read the clock anew, so a rule with a time window ending in between
// could say no address was needed (it decided) and then, no longer
// deciding, leave the request to rules that needed the address it was
// not given: a dest_networks deny that matched nothing.
func TestRulesAskedAtOneInstant(t *testing.T) {
	o := newOrigin(t, false, func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Cache-Control", "no-store") })
	var tick atomic.Int64
	base := time.Date(2026, 12, 7, 16, 59, 59, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Millisecond) }
	rules := &instantRules{}
	s := newStack(t, stackConfig{opts: Options{Rules: rules, Now: now, HTTPPorts: ports(o.port())}})
	if resp, _ := get(t, s.client(nil, "", ""), "http://localhost:"+strconv.Itoa(o.port())+"/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	rules.mu.Lock()
	defer rules.mu.Unlock()
	if len(rules.asked) != 2 || !rules.asked[0].Equal(rules.asked[1]) {
		t.Errorf("the rules were asked at %v, want both questions at one instant", rules.asked)
	}
}
