package origin

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestDirectGoesWhereTheRequestSays: with Options.Direct one Client
// reaches every server the Outbounds name, through Options.Dial, and
// tells them nothing of the client (no X-Forwarded-*).
func TestDirectGoesWhereTheRequestSays(t *testing.T) {
	a, b := newRecorder(t, "a"), newRecorder(t, "b")
	var dials atomic.Int32
	c := newTestClient(t, Options{Direct: true, OmitVia: true, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	for _, rec := range []*recorder{a, b} {
		host := strings.TrimPrefix(rec.URL, "http://")
		resp, err := c.Do(context.Background(), &Outbound{Host: host, Proto: "http", RequestURI: "/x?y", ClientIP: "10.1.2.3",
			Header: http.Header{"X-Forwarded-For": {"10.9.9.9"}}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := rec.last(t)
		if got.requestURI != "/x?y" || got.host != host {
			t.Errorf("%s got %q for host %q, want /x?y for %q", rec.URL, got.requestURI, got.host, host)
		}
		if v := got.header.Get("X-Forwarded-For"); v != "10.9.9.9" {
			t.Errorf("X-Forwarded-For = %q: Direct must add nothing (the proxy strips the client's own)", v)
		}
		for _, f := range []string{"X-Forwarded-Proto", "X-Forwarded-Host", "Via"} {
			if v := got.header.Get(f); v != "" {
				t.Errorf("%s = %q, want none", f, v)
			}
		}
		if v := resp.Header.Get("Via"); v != "" {
			t.Errorf("response Via = %q with OmitVia", v)
		}
	}
	if dials.Load() != 2 {
		t.Errorf("Dial called %d times, want 2", dials.Load())
	}
}

func TestDirectOptions(t *testing.T) {
	_, err := New(Options{Via: "x", Direct: true, Origin: "http://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "Direct") {
		t.Errorf("Direct with Origin: err = %v", err)
	}
	c := newTestClient(t, Options{Direct: true})
	if _, err := c.Do(context.Background(), &Outbound{Host: "127.0.0.1:1", Proto: "ftp", RequestURI: "/"}); err == nil {
		t.Error("ftp scheme accepted")
	}
}
