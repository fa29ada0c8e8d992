package forward

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// rebinder is a DNS server on 127.0.0.1 that answers A queries for every
// name with first, the first time, and with then afterwards: DNS rebinding,
// where the check and the connect see different addresses.
type rebinder struct {
	conn    net.PacketConn
	queries atomic.Int32
	first   [4]byte
	then    [4]byte
}

func newRebinder(t testing.TB, first, then netip.Addr) *rebinder {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rebinder{conn: pc, first: first.As4(), then: then.As4()}
	t.Cleanup(func() { pc.Close() })
	go r.serve()
	return r
}

func (r *rebinder) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		b.EnableCompression()
		_ = b.StartQuestions()
		_ = b.Question(q)
		_ = b.StartAnswers()
		if q.Type == dnsmessage.TypeA {
			a := r.first
			if r.queries.Add(1) > 1 {
				a = r.then
			}
			_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 0}, dnsmessage.AResource{A: a})
		}
		msg, err := b.Finish()
		if err == nil {
			_, _ = r.conn.WriteTo(msg, from)
		}
	}
}

// resolver is a Go resolver that asks only r.
func (r *rebinder) resolver() *net.Resolver {
	addr := r.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// TestDNSRebindingRefused: a name that resolves to a public address when
// the proxy looks it up, then to 127.0.0.1 when the connection is made,
// is refused by the dial itself (the Control hook sees 127.0.0.1): for a
// cache fill and for a tunnel. The internal origin is never reached.
func TestDNSRebindingRefused(t *testing.T) {
	o := newOrigin(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "internal") })
	port := o.port()
	public, local := netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("127.0.0.1")

	dns := newRebinder(t, public, local)
	s := newStack(t, stackConfig{noAllow: true, resolver: dns.resolver(), opts: Options{ConnectPorts: ports(port)}})
	resp, _, _ := s.raw(t, fmt.Sprintf("GET http://rebind.test:%d/ HTTP/1.1\r\nHost: rebind.test\r\n\r\n", port))
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("fill: status %d, want 502 (the dial refused 127.0.0.1)", resp.StatusCode)
	}
	if dns.queries.Load() < 2 {
		t.Errorf("the name was resolved %d times: the dial did not look it up again", dns.queries.Load())
	}

	dns = newRebinder(t, public, local)
	s = newStack(t, stackConfig{noAllow: true, resolver: dns.resolver(), opts: Options{ConnectPorts: ports(port)}})
	resp, _, _ = s.raw(t, fmt.Sprintf("CONNECT rebind.test:%d HTTP/1.1\r\nHost: rebind.test:%d\r\n\r\n", port, port))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(RuleHeader) != "destination" {
		t.Errorf("tunnel: %d %q, want 403 destination", resp.StatusCode, resp.Header.Get(RuleHeader))
	}
	if o.count() != 0 {
		t.Errorf("the internal origin got %d requests", o.count())
	}
}

// TestRefusedKinds: the special-purpose addresses are refused, public ones
// are not, and an exception opens exactly its network.
func TestRefusedKinds(t *testing.T) {
	d := NewDialer(DialerOptions{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	for _, c := range []struct {
		addr    string
		refused bool
	}{
		{"127.0.0.1", true}, {"10.0.0.1", true}, {"10.1.2.3", false}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true}, {"224.0.0.1", true}, {"255.255.255.255", true},
		{"::1", true}, {"::", true}, {"fd00:ec2::254", true}, {"fe80::1", true}, {"::ffff:127.0.0.1", true},
		{"64:ff9b::7f00:1", true}, {"2002:7f00:1::", true}, {"::127.0.0.1", true},
		{"93.184.216.34", false}, {"2606:2800:220:1::1", false}, {"64:ff9b::5db8:d822", false},
		// Special-purpose networks the list lacked (they were dialled).
		{"64:ff9b:1::a9fe:a9fe", true}, {"::ffff:0:7f00:1", true}, {"fec0::1", true}, {"192.0.2.1", true},
		{"198.51.100.1", true}, {"203.0.113.1", true}, {"192.88.99.1", true}, {"2001:0:4136:e378:8000:63bf:80ff:fffe", true},
		{"2001:10::1", true}, {"2001:20::1", true}, {"100::1", true}, {"3fff::1", true},
		{"192.0.3.1", false}, {"203.0.114.1", false}, {"2001:4860:4860::8888", false},
	} {
		err := d.Check(netip.AddrPortFrom(netip.MustParseAddr(c.addr), 80))
		if (err != nil) != c.refused {
			t.Errorf("Check(%s) = %v, want refused=%v", c.addr, err, c.refused)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	loose := NewDialer(DialerOptions{Allow: loopback})
	loose.RefuseListener(ln.Addr())
	if err := loose.Check(netip.MustParseAddrPort(ln.Addr().String())); !isRefused(err) {
		t.Errorf("own listener: %v", err)
	}
	wild := NewDialer(DialerOptions{Allow: loopback})
	wild.RefuseListener(&net.TCPAddr{IP: net.IPv6unspecified, Port: 3128})
	if err := wild.Check(netip.MustParseAddrPort("127.0.0.1:3128")); !isRefused(err) {
		t.Errorf("own wildcard listener via 127.0.0.1: %v", err)
	}
	if err := wild.Check(netip.MustParseAddrPort("127.0.0.1:3129")); err != nil {
		t.Errorf("another port: %v", err)
	}
}

// TestRefusedFirstOctet: the first-octet shortcut agrees with the list on
// every IPv4 first octet, at both ends of each /8 and at the edges of the
// refused networks inside one (100.64/10, 172.16/12, 192.0.0/24, 198.18/15).
func TestRefusedFirstOctet(t *testing.T) {
	for a := range 256 {
		for _, rest := range [][3]byte{{0, 0, 0}, {255, 255, 255}, {64, 0, 0}, {127, 255, 255}, {128, 0, 0}, {16, 0, 0}, {31, 255, 255}, {32, 0, 0}, {0, 0, 255}, {0, 1, 0}, {168, 0, 1}, {18, 0, 0}, {19, 255, 255}, {20, 0, 0}, {254, 1, 1}} {
			ip := netip.AddrFrom4([4]byte{byte(a), rest[0], rest[1], rest[2]})
			if got, want := refusedKind(ip), refusedIn(ip); got != want {
				t.Errorf("refusedKind(%s) = %q, the list says %q", ip, got, want)
			}
		}
	}
}

// TestSpecialPurposeConnectRefused: a CONNECT to a special-purpose address
// the list lacked (local-use NAT64 carrying the metadata address,
// IPv4-translated carrying loopback, site-local) is refused with 403
// before any dial. On the old code the proxy dialled them (502).
func TestSpecialPurposeConnectRefused(t *testing.T) {
	s := newStack(t, stackConfig{})
	for _, target := range []string{"[64:ff9b:1::a9fe:a9fe]:443", "[::ffff:0:7f00:1]:443", "[fec0::1]:443", "192.0.2.1:443"} {
		resp, _, _ := s.raw(t, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get(RuleHeader) != "destination" {
			t.Errorf("CONNECT %s: %d %s=%q, want 403 destination", target, resp.StatusCode, RuleHeader, resp.Header.Get(RuleHeader))
		}
	}
}

// TestRefusedNetwork: a network is refused whole only when both its ends
// lie in one refused network (the configuration's warning for an allow
// rule that can never fire).
func TestRefusedNetwork(t *testing.T) {
	for _, tc := range []struct {
		in      string
		refused bool
	}{
		{"10.20.0.0/16", true}, {"10.0.0.0/8", true}, {"10.0.0.0/7", false}, {"127.0.0.1/32", true},
		{"169.254.169.254/32", true}, {"fd00::/8", true}, {"0.0.0.0/0", false}, {"::/0", false}, {"8.8.8.0/24", false},
	} {
		if got := RefusedNetwork(netip.MustParsePrefix(tc.in)); (got != "") != tc.refused {
			t.Errorf("RefusedNetwork(%s) = %q, want refused %v", tc.in, got, tc.refused)
		}
	}
}
