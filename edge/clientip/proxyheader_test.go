package clientip

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// v2Header builds a binary PROXY header (proxy-protocol.txt §2.2).
func v2Header(tb testing.TB, verCmd, fam byte, body []byte) []byte {
	tb.Helper()
	b := append([]byte{}, sigV2...)
	b = append(b, verCmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func v2Inet(tb testing.TB, src, dst netip.AddrPort) []byte {
	tb.Helper()
	fam := byte(0x11) // AF_INET, STREAM
	if src.Addr().Is6() {
		fam = 0x21
	}
	body := append(src.Addr().AsSlice(), dst.Addr().AsSlice()...)
	body = binary.BigEndian.AppendUint16(body, src.Port())
	body = binary.BigEndian.AppendUint16(body, dst.Port())
	return v2Header(tb, 0x21, fam, body)
}

func TestReadProxyHeader(t *testing.T) {
	src4, dst4 := netip.MustParseAddrPort("198.51.100.7:4711"), netip.MustParseAddrPort("10.0.0.1:443")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::7]:4711"), netip.MustParseAddrPort("[2001:db8::1]:443")
	// §2.2.7: TLVs follow the addresses and count in len.
	tlvBody := append(v2Inet(t, src4, dst4)[v2HeaderLen:], 0x04, 0x00, 0x01, 0x00)
	withTLV := v2Header(t, 0x21, 0x11, tlvBody)
	tests := []struct {
		name    string
		in      string
		want    proxyHeader
		wantErr bool
	}{
		{name: "v1 TCP4 (§2.1)", in: "PROXY TCP4 198.51.100.7 10.0.0.1 4711 443\r\nGET", want: proxyHeader{version: 1, src: src4, dst: dst4}},
		{name: "v1 TCP6 (§2.1)", in: "PROXY TCP6 2001:db8::7 2001:db8::1 4711 443\r\nGET", want: proxyHeader{version: 1, src: src6, dst: dst6}},
		{name: "v1 UNKNOWN keeps real endpoints (§2.1)", in: "PROXY UNKNOWN ffff:f...f:ffff 1 2\r\nGET", want: proxyHeader{version: 1, local: true}},
		{name: "v1 UNKNOWN bare", in: "PROXY UNKNOWN\r\nGET", want: proxyHeader{version: 1, local: true}},
		{name: "v1 TCP4 with IPv6 address", in: "PROXY TCP4 2001:db8::7 10.0.0.1 4711 443\r\n", wantErr: true},
		{name: "v1 TCP6 with IPv4 address", in: "PROXY TCP6 198.51.100.7 10.0.0.1 4711 443\r\n", wantErr: true},
		{name: "v1 port out of range", in: "PROXY TCP4 198.51.100.7 10.0.0.1 65536 443\r\n", wantErr: true},
		{name: "v1 port leading zero", in: "PROXY TCP4 198.51.100.7 10.0.0.1 0443 443\r\n", wantErr: true},
		{name: "v1 port with sign", in: "PROXY TCP4 198.51.100.7 10.0.0.1 +443 443\r\n", wantErr: true},
		{name: "v1 double space", in: "PROXY TCP4  198.51.100.7 10.0.0.1 4711 443\r\n", wantErr: true},
		{name: "v1 LF only", in: "PROXY TCP4 198.51.100.7 10.0.0.1 4711 443\n", wantErr: true},
		{name: "v1 too long (§2.1: 107 bytes)", in: "PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n", wantErr: true},
		{name: "v1 truncated", in: "PROXY TCP4 198.51.100.7", wantErr: true},
		{name: "v1 unknown protocol", in: "PROXY UDP4 198.51.100.7 10.0.0.1 4711 443\r\n", wantErr: true},
		{name: "v1 zone", in: "PROXY TCP6 fe80::1%eth0 2001:db8::1 4711 443\r\n", wantErr: true},
		{name: "v2 INET (§2.2)", in: string(v2Inet(t, src4, dst4)) + "GET", want: proxyHeader{version: 2, src: src4, dst: dst4}},
		{name: "v2 INET6 (§2.2)", in: string(v2Inet(t, src6, dst6)), want: proxyHeader{version: 2, src: src6, dst: dst6}},
		{name: "v2 TLVs skipped (§2.2.7)", in: string(withTLV), want: proxyHeader{version: 2, src: src4, dst: dst4}},
		{name: "v2 LOCAL keeps real endpoints (§2.2)", in: string(v2Header(t, 0x20, 0x00, nil)), want: proxyHeader{version: 2, local: true}},
		{name: "v2 LOCAL with addresses", in: string(v2Header(t, 0x20, 0x11, make([]byte, 12))), want: proxyHeader{version: 2, local: true}},
		{name: "v2 AF_UNSPEC (§2.2)", in: string(v2Header(t, 0x21, 0x00, nil)), want: proxyHeader{version: 2, local: true}},
		{name: "v2 AF_UNIX (§2.2)", in: string(v2Header(t, 0x21, 0x31, make([]byte, 216))), want: proxyHeader{version: 2, local: true}},
		{name: "v2 bad version", in: string(v2Header(t, 0x11, 0x11, make([]byte, 12))), wantErr: true},
		{name: "v2 bad command", in: string(v2Header(t, 0x22, 0x11, make([]byte, 12))), wantErr: true},
		{name: "v2 DGRAM refused", in: string(v2Header(t, 0x21, 0x12, make([]byte, 12))), wantErr: true},
		{name: "v2 short address block", in: string(v2Header(t, 0x21, 0x11, make([]byte, 11))), wantErr: true},
		{name: "v2 truncated body", in: string(v2Header(t, 0x21, 0x11, make([]byte, 12))[:20]), wantErr: true},
		{name: "v2 unknown family", in: string(v2Header(t, 0x21, 0x41, make([]byte, 12))), wantErr: true},
		{name: "no header", in: "GET / HTTP/1.1\r\n\r\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			got, err := readProxyHeader(br)
			if tt.wantErr {
				if !errors.Is(err, ErrProxyHeader) {
					t.Fatalf("err = %v, want ErrProxyHeader", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("header = %+v, want %+v", got, tt.want)
			}
			// Every valid case either ends right after the header or is
			// followed by "GET", which must stay for the application.
			rest, _ := io.ReadAll(br)
			wantRest := ""
			if strings.HasSuffix(tt.in, "GET") {
				wantRest = "GET"
			}
			if string(rest) != wantRest {
				t.Errorf("left %q after the header, want %q", rest, wantRest)
			}
		})
	}
}

// FuzzParseProxyHeader: arbitrary bytes from a trusted peer never panic,
// never consume more than they declare, and an accepted non-local header
// always has a valid source.
func FuzzParseProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 198.51.100.7 10.0.0.1 4711 443\r\nGET"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 4711 443\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2Inet(f, netip.MustParseAddrPort("198.51.100.7:1"), netip.MustParseAddrPort("10.0.0.1:2")))
	f.Add(v2Inet(f, netip.MustParseAddrPort("[2001:db8::7]:1"), netip.MustParseAddrPort("[::1]:2")))
	f.Add(v2Header(f, 0x20, 0x00, nil))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		h, err := readProxyHeader(br)
		if err != nil {
			if !errors.Is(err, ErrProxyHeader) {
				t.Fatalf("error %v does not wrap ErrProxyHeader", err)
			}
			return
		}
		if !h.local && !h.src.Addr().IsValid() {
			t.Fatalf("accepted header without a source: %+v", h)
		}
		if h.version != 1 && h.version != 2 {
			t.Fatalf("version %d", h.version)
		}
		if h.version == 1 && len(data)-br.Buffered() > maxV1Len {
			t.Fatalf("v1 header consumed %d bytes", len(data)-br.Buffered())
		}
	})
}
