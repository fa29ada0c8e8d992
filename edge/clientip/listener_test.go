package clientip

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"
)

// serveEcho serves RemoteAddr back over a real loopback listener wrapped by
// Listen, and returns the listener's address.
func serveEcho(tb testing.TB, trusted []netip.Prefix) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.RemoteAddr)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(Listen(ln, trusted, 2*time.Second)) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// roundTrip writes prefix and a GET on a fresh connection and returns the
// body, or an error when the server closed the connection instead.
func roundTrip(tb testing.TB, addr string, prefix []byte) (string, error) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := append(append([]byte{}, prefix...), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"...)
	if _, err := c.Write(msg); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestListenProxyProtocol(t *testing.T) {
	src4, dst4 := netip.MustParseAddrPort("198.51.100.7:4711"), netip.MustParseAddrPort("10.0.0.1:443")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::7]:4711"), netip.MustParseAddrPort("[2001:db8::1]:443")
	trustedAddr := serveEcho(t, mustPrefixes(t, "127.0.0.0/8"))
	untrustedAddr := serveEcho(t, mustPrefixes(t, "10.0.0.0/8"))
	tests := []struct {
		name       string
		addr       string
		prefix     []byte
		want       string // RemoteAddr seen by the handler; "" means closed
		wantLoopIP bool   // want the socket peer (127.0.0.1:port)
	}{
		{name: "trusted v1 TCP4", addr: trustedAddr, prefix: []byte("PROXY TCP4 198.51.100.7 10.0.0.1 4711 443\r\n"), want: src4.String()},
		{name: "trusted v1 TCP6", addr: trustedAddr, prefix: []byte("PROXY TCP6 2001:db8::7 2001:db8::1 4711 443\r\n"), want: src6.String()},
		{name: "trusted v2 INET", addr: trustedAddr, prefix: v2Inet(t, src4, dst4), want: src4.String()},
		{name: "trusted v2 INET6", addr: trustedAddr, prefix: v2Inet(t, src6, dst6), want: src6.String()},
		{name: "trusted v2 LOCAL keeps peer", addr: trustedAddr, prefix: v2Header(t, 0x20, 0, nil), wantLoopIP: true},
		{name: "trusted v1 UNKNOWN keeps peer", addr: trustedAddr, prefix: []byte("PROXY UNKNOWN\r\n"), wantLoopIP: true},
		{name: "trusted without header is closed", addr: trustedAddr, prefix: nil},
		{name: "trusted with bad header is closed", addr: trustedAddr, prefix: []byte("PROXY TCP4 nope\r\n")},
		{name: "untrusted plain request served", addr: untrustedAddr, prefix: nil, wantLoopIP: true},
		{name: "untrusted v1 header refused", addr: untrustedAddr, prefix: []byte("PROXY TCP4 198.51.100.7 10.0.0.1 4711 443\r\n")},
		{name: "untrusted v2 header refused", addr: untrustedAddr, prefix: v2Inet(t, src4, dst4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := roundTrip(t, tt.addr, tt.prefix)
			switch {
			case tt.wantLoopIP:
				ap, perr := netip.ParseAddrPort(got)
				if err != nil || perr != nil || ap.Addr() != netip.MustParseAddr("127.0.0.1") {
					t.Errorf("RemoteAddr = %q (err %v), want 127.0.0.1:port", got, err)
				}
			case tt.want == "":
				if err == nil {
					t.Errorf("served with RemoteAddr %q, want the connection closed", got)
				}
			default:
				if err != nil || got != tt.want {
					t.Errorf("RemoteAddr = %q (err %v), want %q", got, err, tt.want)
				}
			}
		})
	}
}

// TestListenReadErrors checks the error a bad header leaves for the reader.
func TestListenReadErrors(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		send    string
		want    error
	}{
		{"trusted, no header", "127.0.0.0/8", "GET / HTTP/1.1\r\n", ErrProxyHeader},
		{"untrusted, header", "10.0.0.0/8", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\n", ErrProxyHeaderFromUntrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			pl := Listen(ln, mustPrefixes(t, tt.trusted), time.Second)
			defer pl.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			sc, err := pl.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			_, err = sc.Read(make([]byte, 64))
			if !errors.Is(err, tt.want) {
				t.Errorf("Read err = %v, want %v", err, tt.want)
			}
		})
	}
}

// A connection from Listen passes a file to the socket's own ReadFrom
// (sendfile(2)), as a connection straight from net.Listen does: a server
// behind a PROXY-protocol balancer must not copy every body-file hit
// through a buffer. The bytes arrive whole and in order after the header.
func TestProxyConnReadFromReachesTheSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pl := Listen(ln, mustPrefixes(t, "127.0.0.0/8"), 2*time.Second)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Write([]byte("PROXY TCP4 198.51.100.7 10.0.0.1 4711 443\r\nhello")); err != nil {
		t.Fatal(err)
	}
	server, err := pl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	got := make([]byte, 5)
	if _, err := io.ReadFull(server, got); err != nil || string(got) != "hello" {
		t.Fatalf("read after the header: %q, %v", got, err)
	}
	rf, ok := server.(io.ReaderFrom)
	if !ok {
		t.Fatalf("%T is not an io.ReaderFrom: a body file would be copied through a buffer", server)
	}
	f, err := os.CreateTemp(t.TempDir(), "body")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB
	if _, err := f.Write(body); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		n, err := rf.ReadFrom(f)
		if err == nil && n != int64(len(body)) {
			err = fmt.Errorf("ReadFrom sent %d bytes, want %d", n, len(body))
		}
		_ = server.(*proxyConn).Conn.(*net.TCPConn).CloseWrite()
		done <- err
	}()
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	recv, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(recv, body) {
		t.Fatalf("client received %d bytes, want the file's %d", len(recv), len(body))
	}
}
