package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"edged/edge"
	"edged/edge/policy"
	"edged/internal/httpsyntax"
)

// RuleHeader names, in a refusal, the rule or check that refused.
const RuleHeader = "X-Edged-Rule"

// Proxy is the forward proxy's http.Handler. It is safe for concurrent use.
type Proxy struct {
	opts    Options // the wiring (Name, Cache, Dialer, Rules, ...); see Settings for the rest
	cur     atomic.Pointer[Settings]
	metrics *metrics

	mu      sync.Mutex // guards tunnels
	tunnels map[netip.Addr]int
	wg      sync.WaitGroup // open tunnels, for Close
	closing chan struct{}  // closed by Close: tunnels end
	once    sync.Once
}

// New gives zero fields their defaults, validates opts and returns a Proxy.
func New(opts Options) (*Proxy, error) {
	opts = opts.withDefaults()
	settings, err := Prepare(opts)
	if opts.Cache == nil {
		err = errors.Join(err, &OptionError{Field: "Cache", Msg: "required"})
	}
	if opts.Dialer == nil {
		err = errors.Join(err, &OptionError{Field: "Dialer", Msg: "required"})
	}
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("forward: register metrics: %w", err)
	}
	p := &Proxy{opts: opts, metrics: m, tunnels: make(map[netip.Addr]int), closing: make(chan struct{})}
	p.cur.Store(settings)
	return p, nil
}

// Close ends the open tunnels and waits for them.
func (p *Proxy) Close() {
	p.once.Do(func() { close(p.closing) })
	p.wg.Wait()
}

// ServeHTTP answers one request. The steps, in order:
//  1. admit the client by network (Options.Clients; loopback only when
//     none are configured) — 403 otherwise;
//  2. origin-form requests: /proxy.pac and /healthz, anything else 400
//     (before authentication: a browser fetches its PAC file directly,
//     without proxy credentials);
//  3. authenticate it when Options.Users is set — 407 otherwise;
//  4. parse the target: CONNECT authority or absolute http URL — 400;
//  5. the destination port: CONNECT only to Options.ConnectPorts,
//     absolute-form requests only to Options.HTTPPorts — 403;
//  6. the access rules — 403 naming the rule, 429 for a rate limit;
//  7. the destination must not be one the Dialer refuses (loopback,
//     private, metadata, this proxy) — 403;
//  8. CONNECT: a tunnel (per-client cap 429, idle and total limits);
//     otherwise the shared cache answers, after the anonymity rules.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// This request's settings and rules, to its end, read together: a
	// reload (Reconfigure, LiveRules) while it is under way (its
	// authentication can take a bcrypt comparison) must not judge it by
	// the old settings and the new rules, letting through a client the
	// old rules deny and the new clients refuse. (A reload stores the two
	// one after the other: a request arriving in between still sees one
	// of each, a window of a few instructions.)
	s, rules := p.cur.Load(), p.currentRules()
	// One allocation holds what the request needs to outlive a call: the
	// record (finish logs it) and the writer the cache answers through.
	x := &exchange{rec: record{cfg: s, method: r.Method, target: r.RequestURI, proto: r.Proto, net: -1,
		referer: r.Header.Get("Referer"), agent: r.Header.Get("User-Agent")}}
	rec := &x.rec
	if p.opts.AccessLog != nil {
		rec.start = p.opts.Now() // for the log's duration only
	}
	defer p.finish(rec)
	rec.client = peerAddr(r)
	network, ok := s.admit(rec.client)
	if !ok {
		p.refuse(w, r, rec, http.StatusForbidden, "clients", "client "+rec.client.String()+" is not in an admitted network (forward.clients)")
		return
	}
	rec.net, rec.network = network, s.nets[network]
	if n := httpsyntax.FieldLines(r.Header); n > httpsyntax.MaxRequestFieldLines {
		// Before a tunnel, which holds its request for as long as it
		// lives; the cache refuses the others itself, as here.
		p.refuse(w, r, rec, http.StatusRequestHeaderFieldsTooLarge, "", fmt.Sprintf("%d header field lines, more than %d", n, httpsyntax.MaxRequestFieldLines))
		return
	}
	if r.Method != http.MethodConnect && r.URL.Scheme == "" && r.URL.Host == "" {
		p.serveLocal(w, r, rec)
		return
	}
	if s.opts.Users != nil {
		creds := r.Header["Proxy-Authorization"]
		if len(creds) > 1 {
			// RFC 9110 §11.7.2: one credential; which of two was meant is
			// anyone's guess.
			p.refuse(w, r, rec, http.StatusBadRequest, "", strconv.Itoa(len(creds))+" Proxy-Authorization fields")
			return
		}
		user, why := s.opts.Users.Check(r.Context(), "Proxy-Authorization", r.Header.Get("Proxy-Authorization"), p.opts.Now())
		if user == "" {
			// RFC 9110 §11.7.1: 407 with the challenge for this proxy. The
			// log says why; the client learns nothing (which names exist).
			w.Header().Set("Proxy-Authenticate", `Basic realm="`+s.opts.Realm+`", charset="UTF-8"`)
			p.refuse(w, r, rec, http.StatusProxyAuthRequired, "auth", "proxy authentication required")
			rec.why = "proxy authentication required: " + why
			return
		}
		rec.user = user
	}
	dst, err := p.target(r)
	rec.host, rec.port = dst.host, dst.port
	if err != nil {
		p.refuse(w, r, rec, http.StatusBadRequest, "", err.Error())
		return
	}
	if h := r.URL.Host; r.Method != http.MethodConnect && strings.HasSuffix(h, ":") {
		// An empty port (RFC 3986 §6.2.3): one cache key and one Host
		// with the URL that omits it.
		r.URL.Host = h[:len(h)-1]
		r.Host = r.URL.Host
	}
	if rule, reason := s.checkPort(r.Method, dst.port); rule != "" {
		p.refuse(w, r, rec, http.StatusForbidden, rule, reason)
		return
	}
	// The rules come before the lookup unless their answer for this
	// request needs the address: a name they deny by its domain, user or
	// port costs no DNS query and leaks none. One set of rules answers
	// both questions, even across a reload (currentRules), for one
	// instant: read twice, the clock could pass the end of a rule's time
	// window in between, and the rule that decided (no address needed)
	// no longer decide when the address it let go unread was needed.
	var now time.Time
	if rules != nil {
		now = p.opts.Now()
	}
	var ips []netip.Addr
	var decided netip.Addr // the address the rules judged; a tunnel dials exactly it
	var literal [1]netip.Addr
	var lookupErr error
	switch {
	case dst.ip.IsValid():
		literal[0] = dst.ip // what resolve would answer, without a slice to allocate
		ips, decided = literal[:], dst.ip
	case rules != nil && rules.NeedsAddrFor(ruleRequest(rec, dst, r.Method), now):
		// A failed lookup leaves no address, and the rules still decide (a
		// dest_networks condition matches none): a denied name gets its
		// rule's 403, not the lookup's 502.
		if ips, lookupErr = p.opts.Dialer.resolve(r.Context(), dst); len(ips) > 0 {
			decided = ips[0]
		}
	}
	d := p.decide(rules, rec, dst, ips, r.Method, now)
	rec.rule, rec.category = d.Rule, d.Category
	if !d.Allow {
		if d.Limited {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d.RetryAfter+time.Second-1)/time.Second))))
			p.refuse(w, r, rec, http.StatusTooManyRequests, d.Rule, "over this client's request rate (forward.rules.limits)")
			return
		}
		p.refuse(w, r, rec, http.StatusForbidden, d.Rule, "denied by rule "+d.Rule)
		return
	}
	if lookupErr != nil {
		p.refuse(w, r, rec, http.StatusBadGateway, "", lookupErr.Error())
		return
	}
	if ips == nil {
		if ips, err = p.opts.Dialer.resolve(r.Context(), dst); err != nil {
			p.refuse(w, r, rec, http.StatusBadGateway, "", err.Error())
			return
		}
	}
	if err := p.opts.Dialer.precheck(ips, dst.port); err != nil {
		p.refuse(w, r, rec, http.StatusForbidden, "destination", err.Error())
		return
	}
	if r.Method == http.MethodConnect {
		p.connect(w, r, rec, dst, decided, d.Bandwidth)
		return
	}
	if decided.IsValid() {
		// The fetch connects where the rules judged, as a tunnel does:
		// looked up again, the name could lead to an address they deny.
		r = r.WithContext(edge.WithDialAddr(r.Context(), netip.AddrPortFrom(decided, uint16(dst.port))))
	}
	p.fetch(w, r, x, d.Bandwidth)
}

// target parses the request target of a CONNECT or absolute-form request.
func (p *Proxy) target(r *http.Request) (destination, error) {
	if r.Method == http.MethodConnect {
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			// RFC 9110 §9.3.6: CONNECT content has no defined meaning; bytes
			// framed as a body would otherwise be relayed into the tunnel.
			return destination{}, fmt.Errorf("%w: CONNECT with a body", errBadTarget)
		}
		return parseConnectTarget(r.RequestURI)
	}
	return parseAbsoluteTarget(r.URL)
}

// checkPort refuses a destination port outside the set for the request's
// kind: CONNECT (Options.ConnectPorts) or absolute-form (Options.HTTPPorts).
// A request is sent to its port as HTTP whatever listens there, so a
// port of another protocol (25 SMTP, say) would read the client's request
// and body as commands: a cross-protocol attack through the proxy. It
// returns the check's name and the reason, or "" when the port is allowed.
func (s *Settings) checkPort(method string, port int) (rule, reason string) {
	if method == http.MethodConnect {
		if !s.connectPorts.Contains(port) {
			return "connect_ports", "CONNECT to port " + strconv.Itoa(port) + " is not allowed (forward.connect_ports)"
		}
		return "", ""
	}
	if !s.httpPorts.Contains(port) {
		return "http_ports", "requests to port " + strconv.Itoa(port) + " are not allowed (forward.http_ports)"
	}
	return "", ""
}

// currentRules is the rules a request is judged by, all of it: with
// LiveRules, those in force as it arrives. Asked anew for each question,
// a reload between them could judge it half by the old rules and half by
// the new, and let through what neither lets through: the old (a default
// deny) saying no address was needed, the new then matching their
// dest_networks deny against none.
func (p *Proxy) currentRules() Rules {
	if l, ok := p.opts.Rules.(LiveRules); ok {
		return l.Current()
	}
	return p.opts.Rules
}

// decide asks rules at now; without rules everything is allowed.
func (p *Proxy) decide(rules Rules, rec *record, dst destination, ips []netip.Addr, method string, now time.Time) RuleDecision {
	if rules == nil {
		return RuleDecision{Allow: true, Rule: "default"}
	}
	req := ruleRequest(rec, dst, method)
	if len(ips) > 0 {
		req.Addr = ips[0]
	}
	return rules.Decide(req, now)
}

// ruleRequest is what the rules are asked about a request, but its address.
func ruleRequest(rec *record, dst destination, method string) RuleRequest {
	return RuleRequest{Client: rec.client, User: rec.user, Host: dst.host, Port: dst.port, Method: method}
}

// serveLocal answers origin-form requests, which name no destination: the
// PAC file and a health check, 400 for the rest (a client that was not
// told it talks to a proxy).
func (p *Proxy) serveLocal(w http.ResponseWriter, r *http.Request, rec *record) {
	rec.host = "-"
	cw := &countingWriter{ResponseWriter: w, ctx: r.Context()}
	defer func() { rec.bytesOut = cw.bytes }()
	w = cw
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		switch r.URL.Path {
		case pacPath:
			rec.status = http.StatusOK
			rec.cfg.servePAC(w, r)
			return
		case "/healthz":
			rec.status = http.StatusOK
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = io.WriteString(w, "ok\n")
			return
		}
	}
	p.refuse(w, r, rec, http.StatusBadRequest, "", "this is a forward proxy: send absolute-form requests (GET http://host/path) or CONNECT host:port; /proxy.pac is its auto-config file")
}

// fetch answers an absolute-form request through the shared cache.
func (p *Proxy) fetch(w http.ResponseWriter, r *http.Request, x *exchange, bw *rate.Limiter) {
	rec := &x.rec
	rec.cfg.anonymize(r.Header)
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{body: r.Body, limit: bw, ctx: r.Context()}
		r.Body = body
	}
	cw := &x.w
	*cw = countingWriter{ResponseWriter: w, limit: bw, ctx: r.Context()}
	p.opts.Cache.ServeHTTP(cw, r)
	rec.status, rec.bytesOut = cw.status, cw.bytes
	if p.opts.AccessLog != nil {
		rec.cache = w.Header().Get("Cache-Status") // for the log only
	}
	if body != nil {
		rec.bytesIn = body.n
	}
}

// refuse answers a request the proxy does not carry out: a short page, and
// the rule (or check) that refused it in RuleHeader. Its Cache-Status
// says, as the cache's own refusals do (edge's refuse), that the cache
// was not looked up and why (RFC 9211 §2.9): `edged; detail=access-denied`.
func (p *Proxy) refuse(w http.ResponseWriter, r *http.Request, rec *record, status int, rule, reason string) {
	rec.status, rec.why = status, reason
	if rule != "" {
		rec.rule = rule
		w.Header().Set(RuleHeader, rule)
	}
	h := w.Header()
	h.Set("Cache-Status", policy.CacheStatus{Name: p.opts.Name, Detail: refusalDetail(status)}.String())
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusBadRequest || r.Method == http.MethodConnect {
		// What follows a bad request may not be framed as we think; and a
		// client that sent bytes for its tunnel after a CONNECT (TLS, or a
		// request meant for the destination) must not have them read as
		// its next request to the proxy (RFC 9110 §9.3.6: they belong to
		// a tunnel that was not opened).
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		n, _ := io.WriteString(w, http.StatusText(status)+": "+reason+"\n")
		rec.bytesOut = int64(n)
	}
}

// refusalDetail is the Cache-Status detail of a refusal with status, the
// one the cache gives its own refusals of that status ("" for a failure
// of the proxy itself).
func refusalDetail(status int) string {
	switch status {
	case http.StatusBadRequest:
		return policy.DetailBadRequest
	case http.StatusProxyAuthRequired:
		return policy.DetailUnauthenticated // the proxy's 401
	case http.StatusForbidden:
		return policy.DetailAccessDenied
	case http.StatusTooManyRequests:
		return policy.DetailRateLimited
	case http.StatusBadGateway:
		return policy.DetailUpstreamUnreachable // the destination's name or connection failed
	}
	return ""
}

// admit returns the index in s.nets of the admitted network the client
// belongs to.
func (s *Settings) admit(client netip.Addr) (int, bool) {
	if len(s.opts.Clients) == 0 {
		// No open proxy by default: loopback clients only.
		return 0, client.IsLoopback()
	}
	for i, n := range s.opts.Clients {
		if n.Contains(client) {
			return i, true
		}
	}
	return -1, false
}

// peerAddr is the client's address: the socket peer. A forward proxy
// believes no forwarding header; its clients are the ones it admits.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// waitBandwidth waits until lim lets n bytes through; nil waits for
// nothing. Large n are taken in bursts.
func waitBandwidth(ctx context.Context, lim *rate.Limiter, n int) error {
	if lim == nil {
		return nil
	}
	for n > 0 {
		k := min(n, lim.Burst())
		if k <= 0 {
			return errors.New("bandwidth limit with no burst")
		}
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// isRefused reports whether err is the Dialer's refusal.
func isRefused(err error) bool { return errors.Is(err, ErrRefusedDestination) }
