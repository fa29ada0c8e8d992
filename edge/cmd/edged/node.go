package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"edged/edge"
	"edged/edge/accesslog"
	"edged/edge/acme"
	"edged/edge/analytics"
	"edged/edge/compress"
	"edged/edge/config"
	"edged/edge/fastserve"
	"edged/edge/forward"
	"edged/edge/ratelimit"
	"edged/edge/ratelimit/fleet"
	"edged/edge/strictconn"
	"edged/internal/buildinfo"
	"edged/internal/gcfloor"
	"edged/purge"
	"edged/storage"
)

// node is one running edged process: its parts in start order.
type node struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *storage.Store
	up      *upstreams
	bus     *purge.Bus
	share   *fleet.Sharer // shared rate limits' use over the bus; nil without any
	handler *edge.Handler
	dialer  *forward.Dialer // role forward: the SSRF-safe dialer; else nil
	proxy   *forward.Proxy  // role forward: the public handler; else nil
	rules   *liveRules      // role forward: its access rules; else nil
	// fwdCfg is, in role forward, the configuration the proxy was last
	// given (at start or by a reload); guarded by reloads.mu after start.
	fwdCfg *config.Config
	public *http.Server
	// fast serves the public listener's plain GET and HEAD requests and
	// hands every other connection to public.
	fast   *fastserve.Server
	secure *http.Server // the HTTPS server; nil without tls.listen
	admin  *http.Server // nil when the admin listener is disabled
	certs  *certStore   // the HTTPS certificates; nil without tls.listen
	// adminCerts is admin_tls's certificate; nil when the admin listener
	// speaks plain HTTP.
	adminCerts *certStore
	acme       *acme.Manager // automatic certificates; nil without tls.acme
	// acmeHosts are the hosts acme was started for (acmeHosts).
	acmeHosts []string
	// analytics feeds /analytics and the dashboard (dashboard.go).
	analytics *analytics.Recorder
	// accessLog is the access log of the handler and the forward proxy;
	// nil when log.access is off (accesslog.go).
	accessLog *accesslog.Writer
	// adminMux routes the admin listener; it lists its routes (admin.go).
	adminMux *adminMux

	// args is the command line a reload reads the configuration from
	// again (reload.go); nil reloads cfg as it is.
	args []string
	// level is the operational log's level, which a reload may change.
	level *slog.LevelVar
	// reg is the node's metric registry, for what a reload builds (and
	// every metric the node exports: docs/metrics.md).
	reg *prometheus.Registry
	// hsts says whether a site of the configuration in use sets hsts, so
	// that the plain-HTTP listener must strip it (whenHSTS).
	hsts atomic.Bool
	// life ends when the node closes: the health checks of pools built by
	// a reload run until then, or until their pool closes.
	life    context.Context
	endLife context.CancelFunc
	// reloads serializes reloads and retires the generations of upstreams
	// they replace (reload.go).
	reloads reloader

	publicLn, tlsLn, adminLn net.Listener
	// conns caps the connections of publicLn and tlsLn together
	// (server.max_connections, connlimit.go); streams caps the HTTP/2
	// streams whose handlers run at once, over all connections.
	conns      *ratelimit.ConnLimit
	streams    *streamLimit
	tracked    trackedConns // net/http's idle and new connections, for connectionsFull
	idleClosed atomic.Int64 // idle connections connectionsFull closed
	headClosed atomic.Int64 // slow heads connectionsFull closed
	connLog    logEvery     // connectionsFull's warning
	streamLog  logEvery     // limitStreams's warning
	// gc keeps the collector's heap goal at its floor while the node runs
	// (memlimit.go).
	gc *gcfloor.Floor
}

// start opens everything the node needs, in an order that fails fast on the
// cheap checks (directory, ports) before the store is opened. On error it
// releases what it had opened.
func start(cfg *config.Config, stdout, stderr io.Writer) (_ *node, err error) {
	n := &node{cfg: cfg, level: new(slog.LevelVar)}
	n.level.Set(logLevel(cfg.Log.Level))
	n.log = newLogger(stderr, n.level)
	n.life, n.endLife = context.WithCancel(context.Background())
	n.reloads.stopping, n.reloads.generation = make(chan struct{}), 1
	n.gc = gcfloor.Start(gcFloor(setMemoryLimit(cfg, n.log)))
	for _, w := range startWarnings(cfg) {
		n.log.Warn(w.msg, w.attrs...)
	}
	defer func() {
		if err != nil {
			_ = n.closeAll(context.Background()) // the first error is the one to report
		}
	}()
	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if cfg.TLS.Listen != "" {
		// Before any port is taken: a bad certificate is a configuration
		// error that names the file.
		if n.certs, err = newCertStore(cfg.LoadCertificates, cfg.TLS.ACME != nil); err != nil {
			return nil, err
		}
	}
	upTLS, err := cfg.UpstreamTLSConfig()
	if err != nil {
		return nil, err
	}
	if n.publicLn, err = n.listen("public", "listen", cfg.Listen); err != nil {
		return nil, err
	}
	if cfg.TLS.Listen != "" {
		if n.tlsLn, err = n.listen("tls", "tls.listen", cfg.TLS.Listen); err != nil {
			return nil, err
		}
	}
	if cfg.Admin != "" && cfg.AdminTLS.Cert != "" {
		// Before the port is taken, as the HTTPS listener's.
		if n.adminCerts, err = newCertStore(cfg.LoadAdminCertificate, false); err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
	}
	if cfg.Admin != "" {
		if n.adminLn, err = net.Listen("tcp", cfg.Admin); err != nil {
			return nil, fmt.Errorf("admin listener (admin %s): %w", cfg.Admin, err)
		}
		if n.adminCerts != nil {
			n.adminLn = tls.NewListener(n.adminLn, adminTLSConfig(n.adminCerts))
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerBuildInfo(reg, buildinfo.Read())
	n.reg = reg
	n.registerConnMetrics(reg)
	if n.reloads.metrics, err = newReloadMetrics(reg); err != nil {
		return nil, fmt.Errorf("reload metrics: %w", err)
	}

	if err := n.openAccessLog(stdout, reg); err != nil {
		return nil, err
	}
	so := cfg.StorageOptions()
	so.Logger, so.Registerer = n.log.With("component", "storage"), reg
	if n.store, err = storage.Open(so); err != nil {
		return nil, err // it names the store's file (and, when locked, the data directory)
	}
	if n.isForward() {
		err = n.openForwardUpstream(reg)
	} else {
		err = n.openUpstreams(reg, upTLS)
	}
	if err != nil {
		return nil, err
	}
	n.reloads.gens = []*upstreams{n.up}
	if err := n.openPurgeBus(reg); err != nil {
		return nil, err
	}
	if err := n.shareRateLimits(n.up.sites); err != nil {
		return nil, err
	}
	if err := n.openACME(); err != nil {
		return nil, err
	}
	opts := n.edgeOptions(stdout, reg)
	if cfg.Compression.Enabled && cfg.Role != config.RoleShield {
		// A shield leaves compression to the edges, close to the clients:
		// its responses are what the edges store and compress once.
		if opts.Compression, err = compress.NewEncoder(cfg.CompressOptions()); err != nil {
			return nil, fmt.Errorf("compression: %w", err)
		}
	}
	if n.handler, err = edge.New(opts); err != nil {
		return nil, fmt.Errorf("edge handler: %w", err)
	}
	if n.isForward() {
		if err := n.openForward(reg); err != nil {
			return nil, err
		}
	}
	n.public = n.publicServer()
	n.hsts.Store(hasHSTS(cfg))
	n.public.Handler = n.whenHSTS(n.public.Handler)
	if n.acme != nil {
		// Outermost: a CA's http-01 request is answered before any site's
		// redirect to HTTPS or access rule could turn it away.
		n.public.Handler = n.acme.HTTPHandler(n.public.Handler)
	}
	if n.tlsLn != nil {
		n.secure = n.tlsServer(reg)
	}
	if n.adminLn != nil {
		n.admin = n.adminServer(reg)
	}
	return n, nil
}

// edgeOptions are the configuration's handler options with the parts the
// node wires: the store, upstreams, purge bus, loggers and metrics.
func (n *node) edgeOptions(stdout io.Writer, reg prometheus.Registerer) edge.Options {
	opts := n.cfg.EdgeOptions()
	opts.Store, opts.Upstream, opts.Router, opts.Pools, opts.Purger = n.store, n.up.any, n.up.router, n.up.poolClients, n.bus
	opts.Logger, opts.Registerer = n.log.With("component", "edge"), reg
	// Analytics are read only through the admin listener with the purge
	// token: without either nobody could see them, so no request pays.
	if n.cfg.Admin != "" && purgeTokenOf(n.cfg) != "" {
		n.analytics, opts.Observer = newAnalytics()
	}
	if n.accessLog != nil && !n.isForward() { // the forward proxy logs its own line
		opts.AccessLog = n.accessLog
	}
	// The forward role's upstreams are other people's servers: they are
	// told nothing of its clients, a request id included.
	opts.NoRequestID = n.isForward()
	return opts
}

// publicServer serves the cache. Bodies may be large and slow in either
// direction, so only the header read and idle keep-alives are bounded
// (ReadTimeout and WriteTimeout stay 0); a request header larger than
// MaxHeaderBytes is answered 431 by net/http.
//
// It also puts strictconn.WrapListener outermost on the public listener, so that
// requests whose HTTP/1 framing two parsers could read differently
// (Content-Length with Transfer-Encoding, obs-fold) are refused with 400
// before net/http hides the conflict (docs/security.md).
//
// In front of both, edge/fastserve answers the plainest requests (GET and
// HEAD without a body: a cache's hits, in origin-form or a forward proxy
// client's absolute-form) on a leaner loop than net/http's, and hands
// every connection it does not fully understand (a CONNECT, an upload) to
// this server through strictconn.
func (n *node) publicServer() *http.Server {
	s := n.cfg.Server
	var h http.Handler = n.handler
	if n.proxy != nil {
		h = n.proxy
	}
	n.fast = &fastserve.Server{
		ReadHeaderTimeout: s.ReadHeaderTimeout.Std(),
		IdleTimeout:       s.IdleTimeout.Std(),
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(n.log.With("component", "http").Handler(), slog.LevelWarn),
	}
	return &http.Server{
		Handler:           h,
		ConnState:         n.tracked.track,
		ReadHeaderTimeout: s.ReadHeaderTimeout.Std(),
		IdleTimeout:       s.IdleTimeout.Std(),
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(n.log.With("component", "http").Handler(), slog.LevelWarn),
	}
}

// adminTLSConfig is the admin listener's TLS configuration with admin_tls:
// the HTTPS listener's versions and cipher suites (serverTLSConfig), one
// certificate whatever the name, HTTP/1.1 only. net/http does each
// handshake within the admin server's ReadHeaderTimeout.
func adminTLSConfig(cs *certStore) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cs.getCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// adminServer serves /metrics, /healthz and the purge API. It is meant for
// a private network; the purge API also requires its bearer token.
func (n *node) adminServer(reg *prometheus.Registry) *http.Server {
	mux := newAdminMux()
	n.adminMux = mux
	mux.Handle("/purge", n.bus.Handler())
	mux.Handle("GET /inspect", n.inspectHandler())
	n.adminRoutes(mux, reg)
	mux.Handle("POST /reload", n.reloadHandler())
	if n.cfg.Debug.Pprof {
		// Where a node spends its CPU is the first question when it falls
		// behind; debug.pprof turns the profiles on, behind their token.
		mux.Handle("/debug/pprof/", debugHandler(n.cfg.DebugToken()))
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok\n")
		n.writeBusHealth(w)
	})
	return &http.Server{
		Handler:           bodyDeadline(mux, n.cfg.Server.RequestBodyTimeout.Std()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       n.cfg.Server.IdleTimeout.Std(),
		ErrorLog:          slog.NewLogLogger(n.log.With("component", "admin").Handler(), slog.LevelWarn),
	}
}

// serve runs the listeners until ctx is done or one of them fails, then
// stops: drain connections, finish the handler's background work, flush and
// close the store. The error is nil after a clean stop.
func (n *node) serve(ctx context.Context) error {
	n.up.start(ctx) // active health checks, until ctx ends
	stopReload := n.watchReload(ctx)
	defer stopReload()
	stopReopen := n.watchReopen(ctx)
	defer stopReopen()
	errc := make(chan error, 3)
	go func() { errc <- fmt.Errorf("public listener: %w", n.servePublic()) }()
	attrs := []any{"name", n.cfg.CacheName(), "role", n.cfg.Role, "public", n.publicLn.Addr().String(), "data", n.cfg.Data}
	if n.proxy != nil {
		attrs = append(attrs, "forward_clients", forwardClients(n.cfg))
	}
	if n.secure != nil {
		// Serve, not ServeTLS: n.tlsLn does the handshakes (tlsServer).
		go func() { errc <- fmt.Errorf("tls listener: %w", n.secure.Serve(n.tlsLn)) }()
		attrs = append(attrs, "tls", n.tlsLn.Addr().String())
	}
	if n.admin != nil {
		go func() { errc <- fmt.Errorf("admin listener: %w", n.admin.Serve(n.adminLn)) }()
		attrs = append(attrs, "admin", n.adminLn.Addr().String())
	}
	if n.acme != nil {
		// In the background: the node serves with what it has meanwhile.
		n.acme.Start()
	}
	n.log.Info("serving", attrs...)

	var failure error
	select {
	case <-ctx.Done():
		n.log.Info("stopping: draining connections", "timeout", n.cfg.Server.ShutdownTimeout.String())
	case failure = <-errc:
		n.log.Error("stopping", "err", failure)
	}
	return errors.Join(failure, n.stop())
}

// servePublic serves the public listener through n.fast, which hands the
// connections it does not serve to n.public.
func (n *node) servePublic() error {
	n.fast.Handler = n.public.Handler // as wrapped for HSTS and ACME
	// fastserve serves only heads within max_header_bytes; what it hands
	// on gets net/http's 4 KiB of slack unless held to the limit here.
	n.public.Handler = limitHeader(n.public.Handler, int(n.cfg.Server.MaxHeaderBytes))
	handoffs := strictconn.WrapListener(n.fast.Handoffs(), int(n.cfg.Server.MaxHeaderBytes))
	go func() { _ = n.public.Serve(handoffs) }() // ends with n.public's Shutdown
	return n.fast.Serve(n.publicLn)
}

// stop shuts the servers down within the shutdown timeout, then closes the
// handler, the upstream clients and pools, and the store in that order: nothing may
// write to the store once it is closing.
func (n *node) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Server.ShutdownTimeout.Std())
	defer cancel()
	if err := n.fast.Shutdown(ctx); err != nil {
		n.log.Warn("drain timed out; closing remaining connections", "err", err)
		_ = n.fast.Close()
	}
	for _, s := range []*http.Server{n.public, n.secure, n.admin} {
		if s == nil {
			continue
		}
		if err := s.Shutdown(ctx); err != nil {
			// Not fatal: the connections still open are cut, and the store
			// is closed cleanly below.
			n.log.Warn("drain timed out; closing remaining connections", "err", err)
			_ = s.Close()
		}
	}
	if n.proxy != nil {
		n.proxy.Close() // hijacked tunnels are not drained by Shutdown
	}
	err := n.closeAll(ctx)
	if err == nil {
		n.log.Info("stopped cleanly")
	}
	return err
}

// closeAll releases whatever start opened, in reverse order. What is left
// of ctx bounds the wait for the handler's upstream fetches and background
// revalidations (cancelled past it) and the store's drain of queued disk
// writes (dropped past it: a cache refetches), so that a stop takes
// server.shutdown_timeout, not minutes.
func (n *node) closeAll(ctx context.Context) error {
	if n.handler != nil {
		if err := n.handler.Close(ctx); err != nil {
			n.log.Warn("shutdown timeout: upstream fetches abandoned", "err", err)
		}
	}
	n.closeAccessLog() // after the servers and the handler: nothing logs after it
	if n.reloads.stopping != nil {
		n.stopReloads() // after the handler: the generations still draining are closed
	}
	n.upstreams().close() // after the handler: its background fetches use the clients
	if n.endLife != nil {
		n.endLife()
	}
	n.gc.Stop()
	if n.rules != nil {
		_ = n.rules.Close() // stops watching the category lists
	}
	if n.acme != nil {
		n.acme.Close() // before the bus, whose NATS may hold its storage
	}
	var err error
	if n.share != nil {
		_ = n.share.Close() // before the bus: it publishes on its connection
	}
	if n.bus != nil {
		// Before the store: the bus applies purges to it.
		if berr := n.bus.Close(); berr != nil {
			n.log.Warn("close purge bus", "err", berr)
		}
	}
	if n.store != nil {
		if cerr := n.store.Shutdown(ctx); cerr != nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}
	for _, ln := range []net.Listener{n.publicLn, n.tlsLn, n.adminLn} {
		if ln != nil {
			_ = ln.Close() // already closed by Shutdown after serving
		}
	}
	return err
}

// newLogger returns the operational logger: JSON lines on w at level.
func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// logLevel is log.level as a slog.Level.
func logLevel(level string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config; info on error
	return l
}

// bodyDeadline bounds the reads of a request body on the admin listener
// as edge.Handler does on the public ones: net/http reads a body the
// handler left (a refused purge) before it answers, with no deadline, so a
// client announcing a body and stalling would hold the connection for good.
func bodyDeadline(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 && d > 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}
