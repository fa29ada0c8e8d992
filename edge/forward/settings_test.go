package forward

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"testing"
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
