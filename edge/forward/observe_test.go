package forward

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"
)

// TestRequestSeries: requests land in the series of their kind, client
// network, category and outcome, whether counted through the table kept
// for requests without a category or by labels; a client outside every
// network counts under "none". Nothing lands anywhere else.
func TestRequestSeries(t *testing.T) {
	p, err := New(Options{Cache: http.NotFoundHandler(), Dialer: NewDialer(DialerOptions{}),
		Clients:    []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16")},
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	recs := []record{
		{method: http.MethodGet, net: 1, network: "192.168.0.0/16", status: http.StatusOK},
		{method: http.MethodGet, net: 1, network: "192.168.0.0/16", status: http.StatusNotModified},
		{method: http.MethodGet, net: 0, network: "10.0.0.0/8", status: http.StatusTooManyRequests, category: "news"},
		{method: http.MethodConnect, net: -1, status: http.StatusForbidden},
		{method: http.MethodConnect, net: 0, network: "10.0.0.0/8", status: http.StatusBadGateway},
		{method: http.MethodGet, net: 0, network: "10.0.0.0/8", status: http.StatusProxyAuthRequired, category: "none"},
	}
	for i := range recs {
		recs[i].cfg = p.cur.Load()
		p.finish(&recs[i])
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"http", "192.168.0.0/16", "none", "allowed"}, 2},
		{[]string{"http", "10.0.0.0/8", "news", "limited"}, 1},
		{[]string{"connect", "none", "none", "denied"}, 1},
		{[]string{"connect", "10.0.0.0/8", "none", "error"}, 1},
		{[]string{"http", "10.0.0.0/8", "none", "denied"}, 1}, // a category named "none" is the same series
	} {
		if got := testutil.ToFloat64(p.metrics.requests.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("edged_forward_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(p.metrics.requests); n != 5 {
		t.Errorf("%d series, want 5", n)
	}
}

// readFromWriter is a ResponseWriter with the connection's ReadFrom, which
// it records being used.
type readFromWriter struct {
	discardWriter
	readFrom int
}

func (w *readFromWriter) ReadFrom(src io.Reader) (int64, error) {
	w.readFrom++
	return io.Copy(io.Discard, src)
}

// TestCountingWriterReadFrom: a body sent with ReadFrom (a body file, as
// edge's writer sends it)
// reaches the connection's ReadFrom (sendfile) when no bandwidth limit
// applies, and goes through Write, paced, when one does; counted either
// way.
func TestCountingWriterReadFrom(t *testing.T) {
	body := strings.Repeat("x", 100<<10)
	under := &readFromWriter{discardWriter: discardWriter{h: http.Header{}}}
	var cw http.ResponseWriter = &countingWriter{ResponseWriter: under, ctx: context.Background()}
	rf, ok := cw.(io.ReaderFrom)
	if !ok {
		t.Fatal("the proxy's writer hides the connection's ReadFrom: body files lose sendfile")
	}
	if n, err := rf.ReadFrom(strings.NewReader(body)); err != nil || n != int64(len(body)) {
		t.Fatalf("copy: %d, %v", n, err)
	}
	if c := cw.(*countingWriter); under.readFrom != 1 || c.bytes != int64(len(body)) || c.status != http.StatusOK {
		t.Errorf("unlimited: %d ReadFrom calls, %d bytes counted, status %d; want 1, %d, 200", under.readFrom, c.bytes, c.status, len(body))
	}

	under = &readFromWriter{discardWriter: discardWriter{h: http.Header{}}}
	lim := rate.NewLimiter(rate.Inf, 16<<10)
	limited := &countingWriter{ResponseWriter: under, ctx: context.Background(), limit: lim}
	if n, err := any(limited).(io.ReaderFrom).ReadFrom(strings.NewReader(body)); err != nil || n != int64(len(body)) {
		t.Fatalf("copy: %d, %v", n, err)
	}
	if under.readFrom != 0 || limited.bytes != int64(len(body)) {
		t.Errorf("limited: %d ReadFrom calls (the limit was skipped), %d bytes counted", under.readFrom, limited.bytes)
	}
}
