package forward

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"edged/edge/accesslog"
)

// record is what the proxy logs of one request or tunnel.
type record struct {
	cfg      *Settings // in force when it arrived
	start    time.Time
	client   netip.Addr
	network  string // the admitted client network, a metrics label
	net      int    // its index in Proxy.nets; -1 when not admitted
	user     string
	method   string
	target   string // the request target as sent, for both formats
	proto    string
	referer  string    // the client's Referer as sent, for the combined format
	agent    string    // its User-Agent as sent (before set_headers), the same
	end      time.Time // when it ended, set by finish
	host     string
	port     int
	status   int
	bytesIn  int64 // from the client (request body, tunnel upload)
	bytesOut int64 // to the client (response body, tunnel download)
	cache    string
	rule     string
	category string
	why      string // why a refusal, or how a tunnel ended: the log's "reason"
}

// exchange is one request's state that outlives the calls it goes
// through, in one allocation.
type exchange struct {
	rec record
	w   countingWriter
}

// Outcomes of a request or tunnel, the requests series' outcome label.
const (
	outAllowed = iota
	outLimited
	outDenied
	outError
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"allowed", "limited", "denied", "error"}

// metrics are the proxy's Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec // by kind, client network, category, outcome
	bytes    *prometheus.CounterVec // relayed bytes by kind and direction
	tunnels  prometheus.Gauge       // tunnels open
	spliced  prometheus.Counter     // tunnels relayed by splice(2), not a user-space buffer

	// The children the hit path counts into, looked up once rather than
	// by hashing label values on every request: without a category (no
	// rule or list named one, the common case) in Settings.plain, by
	// client network index; otherwise by labels, here.
	counters sync.Map              // requestLabels → prometheus.Counter
	in, out  [2]prometheus.Counter // bytes by kind: 0 http, 1 connect
}

// counterSlot holds a requests child once looked up.
type counterSlot = atomic.Pointer[counterRef]

type counterRef struct{ c prometheus.Counter }

// requestLabels are the label values of one requests child.
type requestLabels struct{ kind, network, category, outcome string }

// request returns the requests child for l.
func (m *metrics) request(l requestLabels) prometheus.Counter {
	if c, ok := m.counters.Load(l); ok {
		return c.(prometheus.Counter)
	}
	c := m.requests.WithLabelValues(l.kind, l.network, l.category, l.outcome)
	m.counters.Store(l, c)
	return c
}

// newMetrics makes the proxy's series.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_forward_requests_total",
			Help: "Forward-proxy requests and tunnels by kind (http, connect), admitted client network, destination category and outcome (allowed, denied, limited, error).",
		}, []string{"kind", "client_network", "category", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_forward_bytes_total",
			Help: "Bytes relayed by the forward proxy by kind (http, connect) and direction (in: from clients, out: to clients).",
		}, []string{"kind", "direction"}),
		tunnels: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edged_forward_tunnels_open", Help: "CONNECT tunnels open.",
		}),
		spliced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_forward_tunnels_spliced_total",
			Help: "CONNECT tunnels relayed zero-copy (TCP to TCP, no bandwidth limit): the kernel moves the bytes with splice(2).",
		}),
	}
	for i, kind := range []string{"http", "connect"} {
		m.in[i], m.out[i] = m.bytes.WithLabelValues(kind, "in"), m.bytes.WithLabelValues(kind, "out")
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.bytes, m.tunnels, m.spliced} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// finish logs rec and counts it.
func (p *Proxy) finish(rec *record) {
	k := 0
	if rec.method == http.MethodConnect {
		k = 1
	}
	outcome := outAllowed
	switch {
	case rec.status == http.StatusTooManyRequests:
		outcome = outLimited
	case rec.status == http.StatusForbidden || rec.status == http.StatusProxyAuthRequired:
		outcome = outDenied
	case rec.status >= 400:
		outcome = outError
	}
	p.count(rec, k, outcome)
	if rec.bytesIn > 0 {
		p.metrics.in[k].Add(float64(rec.bytesIn))
	}
	if rec.bytesOut > 0 {
		p.metrics.out[k].Add(float64(rec.bytesOut))
	}
	if p.opts.AccessLog == nil {
		return
	}
	rec.end = p.opts.Now()
	p.opts.AccessLog.Log(rec)
}

// count adds rec to the requests series: k is the kind (0 http, 1
// connect).
func (p *Proxy) count(rec *record, k, outcome int) {
	network, category := rec.network, rec.category
	if network == "" {
		network = "none"
	}
	if category != "" {
		p.metrics.request(requestLabels{[2]string{"http", "connect"}[k], network, category, outcomeNames[outcome]}).Inc()
		return
	}
	n := rec.net
	if n < 0 {
		n = len(rec.cfg.plain) - 1
	}
	slot := &rec.cfg.plain[n][k][outcome]
	ref := slot.Load()
	if ref == nil {
		// Two requests may both get here: the same child either way.
		ref = &counterRef{p.metrics.requests.WithLabelValues([2]string{"http", "connect"}[k], network, "none", outcomeNames[outcome])}
		slot.Store(ref)
	}
	ref.c.Inc()
}

// AppendJSON appends rec as the proxy's JSON line: msg "request" or
// "tunnel", with the proxy's fields (user, rule, category, bytes each way,
// duration in seconds) rather than the cache's.
func (rec *record) AppendJSON(b []byte) []byte {
	msg := "request"
	if rec.method == http.MethodConnect {
		msg = "tunnel"
	}
	b = accesslog.AppendJSONStart(b, rec.end, msg)
	b = accesslog.AppendJSONString(b, "client", rec.client.String()) // "invalid IP" for none, as slog wrote it
	b = accesslog.AppendJSONString(b, "user", rec.user)
	b = accesslog.AppendJSONString(b, "method", rec.method)
	b = accesslog.AppendJSONString(b, "host", rec.host)
	b = accesslog.AppendJSONInt(b, "port", int64(rec.port))
	// What was fetched: the request target as sent (the URL of an
	// absolute-form request, host:port of a CONNECT).
	b = accesslog.AppendJSONString(b, "uri", rec.target)
	b = accesslog.AppendJSONInt(b, "status", int64(rec.status))
	b = accesslog.AppendJSONInt(b, "bytes_in", rec.bytesIn)
	b = accesslog.AppendJSONInt(b, "bytes_out", rec.bytesOut)
	b = accesslog.AppendJSONSeconds(b, "duration", rec.end.Sub(rec.start))
	b = accesslog.AppendJSONString(b, "cache", rec.cache)
	b = accesslog.AppendJSONString(b, "rule", rec.rule)
	b = accesslog.AppendJSONString(b, "category", rec.category)
	if rec.why != "" {
		b = accesslog.AppendJSONString(b, "reason", rec.why)
	}
	return accesslog.AppendJSONEnd(b)
}

// AppendCombined appends rec in the combined log format: the proxy
// user as $remote_user, the bytes sent to the client as $body_bytes_sent.
func (rec *record) AppendCombined(b []byte) []byte {
	return (&accesslog.Record{
		Time: rec.end, Client: rec.client, User: rec.user, Method: rec.method, Target: rec.target,
		Proto: rec.proto, Status: rec.status, Bytes: rec.bytesOut, Referer: rec.referer, UserAgent: rec.agent,
	}).AppendCombined(b)
}

// countingWriter records what the cache handler answered, for the log,
// and holds the body to the client's bandwidth limit. It unwraps for
// http.ResponseController (deadlines, flushes).
type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	limit  *rate.Limiter // nil: no limit
	ctx    context.Context
}

func (w *countingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if err := waitBandwidth(w.ctx, w.limit, len(b)); err != nil {
		return 0, err
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the connection's own ReadFrom within reach of the cache
// handler, which sends a body kept in a file through it: sendfile(2) from
// the page cache rather than a copy through a buffer. A bandwidth limit
// needs each chunk to pass through Write, so with one the bytes do.
func (w *countingWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok || w.limit != nil {
		// Both sides hidden: neither src's WriteTo nor this ReadFrom may
		// take the copy back.
		return io.Copy(struct{ io.Writer }{w}, struct{ io.Reader }{src})
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := rf.ReadFrom(src)
	w.bytes += n
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the request body bytes the cache handler read, and
// holds them to the client's bandwidth limit.
type countingBody struct {
	body interface {
		Read([]byte) (int, error)
		Close() error
	}
	n     int64
	limit *rate.Limiter // nil: no limit
	ctx   context.Context
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.n += int64(n)
	if werr := waitBandwidth(b.ctx, b.limit, n); werr != nil {
		return n, werr
	}
	return n, err
}

func (b *countingBody) Close() error { return b.body.Close() }
