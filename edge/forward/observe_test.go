package forward

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
