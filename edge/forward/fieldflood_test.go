package forward

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"edged/internal/httpsyntax"
)

// A CONNECT of more than httpsyntax.MaxRequestFieldLines field lines is
// refused with 431 before any tunnel, which would hold the parsed request
// for as long as it lives (up to forward.tunnels.max_duration): a 56 KiB
// head of thousands of tiny fields costs ten times its bytes parsed.
// Absolute-form requests get the same from the cache.
func TestRequestFieldFloodRefused(t *testing.T) {
	dst := newRawListener(t)
	s := newStack(t, stackConfig{opts: Options{ConnectPorts: ports(dst.port()), HTTPPorts: ports(dst.port())}})
	var b strings.Builder
	for i := range httpsyntax.MaxRequestFieldLines + 1 {
		fmt.Fprintf(&b, "a%d: 1\r\n", i)
	}
	for _, request := range []string{
		"CONNECT " + dst.addr() + " HTTP/1.1\r\nHost: " + dst.addr() + "\r\n" + b.String() + "\r\n",
		"GET http://" + dst.addr() + "/ HTTP/1.1\r\nHost: " + dst.addr() + "\r\n" + b.String() + "\r\n",
	} {
		resp, _, _ := s.raw(t, request)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%.40s...: status %d, want 431", request, resp.StatusCode)
		}
	}
	if n := dst.accepted(); n != 0 {
		t.Errorf("the destination accepted %d connections, want none", n)
	}
}
