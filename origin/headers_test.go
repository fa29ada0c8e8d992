package origin

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestProtocolVersion checks the received-protocol format (RFC 9110 §7.6.3).
func TestProtocolVersion(t *testing.T) {
	tests := []struct {
		major, minor int
		want         string
	}{
		{1, 1, "1.1"}, {1, 0, "1.0"}, {2, 0, "2"}, {3, 0, "3"}, {0, 0, "1.1"},
	}
	for _, tt := range tests {
		if got := protocolVersion(tt.major, tt.minor); got != tt.want {
			t.Errorf("protocolVersion(%d, %d) = %q, want %q", tt.major, tt.minor, got, tt.want)
		}
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := clientAddr(tt.in); got != tt.want {
			t.Errorf("clientAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDropInvalidNames: RFC 9110 §5.1 field names are tokens; an upstream
// field named otherwise is removed, the others stay.
func TestDropInvalidNames(t *testing.T) {
	h := http.Header{"X A": {"1"}, "X-Ok": {"2"}, "X\tB": {"3"}, "": {"4"}, "X:C": {"5"}}
	dropInvalidNames(h)
	if got, want := len(h), 1; got != want || h.Get("X-Ok") != "2" {
		t.Errorf("after dropInvalidNames: %q, want only X-Ok", h)
	}
}

// TestForwardHeaderOwnsItsValues: the header sent upstream shares no
// value with the client's, which stays as it was, and no field's values
// with another's: appending to one (as a later step might with Add)
// changes no other field. Its copy holds what forwardHeader adds without
// an allocation of its own for each (#17).
func TestForwardHeaderOwnsItsValues(t *testing.T) {
	c, err := New(Options{Origin: "http://127.0.0.1:1", Via: "edged"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	client := http.Header{
		"Accept":          {"*/*"},
		"X-Forwarded-For": {"192.0.2.7"},
		"Via":             {"1.1 a", "1.1 b"},
		"Te":              {"trailers"},
		"Connection":      {"X-Private"},
		"X-Private":       {"secret"},
		"Empty":           nil,
	}
	before := client.Clone()
	out := &Outbound{Header: client, ClientIP: "192.0.2.9", Proto: "https", Host: "www.example.com"}
	h := c.forwardHeader(out)
	want := http.Header{
		"Accept":            {"*/*"},
		"X-Forwarded-For":   {"192.0.2.7, 192.0.2.9"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"www.example.com"},
		"Via":               {"1.1 a, 1.1 b, 1.1 edged"},
		"Te":                {"trailers"},
		"User-Agent":        {""},
		"Empty":             nil,
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("forwardHeader = %q, want %q", h, want)
	}
	if !reflect.DeepEqual(client, before) {
		t.Fatalf("the client's header changed: %q, was %q", client, before)
	}
	for name := range h {
		h[name] = append(h[name], "appended")
	}
	for name, vv := range want {
		if got := h[name]; !reflect.DeepEqual(got[:len(got)-1], vv) && len(vv) > 0 {
			t.Errorf("%s = %q after appending to every field, want %q then one more", name, got, vv)
		}
	}
	if !reflect.DeepEqual(client, before) {
		t.Fatalf("appending upstream changed the client's header: %q, was %q", client, before)
	}
	small := &Outbound{Header: http.Header{"Accept": {"*/*"}, "User-Agent": {"bench"}}, ClientIP: "192.0.2.9", Proto: "http", Host: "www.example.com"}
	// The map and its group, the values' array, X-Forwarded-For's join.
	if n := testing.AllocsPerRun(100, func() { c.forwardHeader(small) }); n > 3 {
		t.Errorf("forwardHeader made %v allocations for a header of 2 fields, want at most 3", n)
	}
}

// TestSurrogateCapability: a node appends its member of
// Surrogate-Capability (W3C Edge Architecture Specification 1.0) to what it
// forwards; a client's own is removed unless the node keeps it (a shield,
// whose clients are edges), so that no client can claim a capability (ESI)
// the origin would answer for and the cache store for everyone.
func TestSurrogateCapability(t *testing.T) {
	const mine = `edged-shield="Surrogate/1.0"`
	for _, tt := range []struct {
		name   string
		opts   Options
		client []string // the client's Surrogate-Capability lines
		want   string   // what the upstream sees; "" absent
	}{
		{"appended", Options{SurrogateCapability: mine}, nil, mine},
		{"client's removed", Options{SurrogateCapability: mine}, []string{`evil="ESI/1.0"`}, mine},
		{"client's removed, none added", Options{}, []string{`evil="ESI/1.0"`}, ""},
		{"kept and appended", Options{SurrogateCapability: mine, KeepSurrogateCapability: true}, []string{`edged="Surrogate/1.0"`, `b="X"`}, `edged="Surrogate/1.0", b="X", ` + mine},
		{"direct", Options{Direct: true}, []string{`evil="ESI/1.0"`}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, "o")
			opts := tt.opts
			out := &Outbound{Method: "GET", Host: "site.example", RequestURI: "/p", Key: "k", Header: http.Header{}}
			if opts.Direct {
				out.Proto, out.Host = "http", strings.TrimPrefix(rec.URL, "http://")
			} else {
				opts.Origin = rec.URL
			}
			if tt.client != nil {
				out.Header["Surrogate-Capability"] = tt.client
			}
			c := newTestClient(t, opts)
			resp, err := c.Do(context.Background(), out)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := strings.Join(rec.last(t).header["Surrogate-Capability"], ", "); got != tt.want {
				t.Errorf("upstream saw Surrogate-Capability %q, want %q", got, tt.want)
			}
			if len(tt.client) > 0 && out.Header["Surrogate-Capability"][0] != tt.client[0] {
				t.Errorf("the caller's header changed: %q", out.Header["Surrogate-Capability"])
			}
		})
	}
	if err := (Options{Origin: "http://127.0.0.1:1", Via: "edged", SurrogateCapability: "a\r\nX-Evil: 1"}).Validate(); err == nil || !strings.Contains(err.Error(), "SurrogateCapability") {
		t.Errorf("Validate of a field value with CRLF: %v", err)
	}
}

// TestResponseFieldsCountedAsSent: MaxResponseFields bounds the field
// lines the upstream sent, hop-by-hop ones included. They were counted
// after those were removed, so a head past the bound by its hop-by-hop
// fields was taken.
func TestResponseFieldsCountedAsSent(t *testing.T) {
	head := func(plain, hop int) string {
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: x-hop\r\n")
		for i := range plain {
			fmt.Fprintf(&b, "X-%d: v\r\n", i)
		}
		for range hop {
			b.WriteString("X-Hop: v\r\n")
		}
		return b.String() + "\r\nok"
	}
	for _, tt := range []struct {
		name       string
		plain, hop int
		refused    bool
	}{
		// Content-Length and Connection are lines too.
		{"at the bound", MaxResponseFields - 3, 1, false},
		{"past it by a hop-by-hop field", MaxResponseFields - 2, 1, true},
		{"past it by fields removed", MaxResponseFields - 20, 30, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, Options{Origin: rawServer(t, head(tt.plain, tt.hop))})
			resp, body, err := get(t, c, "k", "/")
			switch {
			case tt.refused:
				wantErrIs(t, err, ErrProtocol)
			case err != nil || body != "ok":
				t.Fatalf("body %q, err %v; want the response", body, err)
			case resp.Header.Get("X-Hop") != "":
				t.Errorf("X-Hop %q: a hop-by-hop field kept", resp.Header.Get("X-Hop"))
			}
		})
	}
}
