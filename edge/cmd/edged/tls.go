package main

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/acme"
	"edged/edge/config"
)

// certSet is one loaded set of certificates, indexed by the DNS names of
// their leaves. The first certificate is the default, served when the
// client sends no SNI name or one that no certificate covers.
type certSet struct {
	def      *tls.Certificate
	exact    map[string]*tls.Certificate // lower-case name
	wildcard map[string]*tls.Certificate // "example.com" for "*.example.com"
}

// newCertSet indexes certs; a name claimed by two certificates goes to the
// first one listed.
func newCertSet(certs []tls.Certificate) *certSet {
	s := &certSet{exact: make(map[string]*tls.Certificate), wildcard: make(map[string]*tls.Certificate)}
	for i := range certs {
		c := &certs[i]
		if s.def == nil {
			s.def = c
		}
		if c.Leaf == nil {
			continue
		}
		for _, name := range c.Leaf.DNSNames {
			name = strings.ToLower(strings.TrimSuffix(name, "."))
			table := s.exact
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				table, name = s.wildcard, rest
			}
			if _, taken := table[name]; !taken {
				table[name] = c
			}
		}
	}
	return s
}

// cover returns the certificate whose names cover an SNI name: an exact
// match, then a wildcard covering one label (RFC 6125 §6.4.3: "*" matches
// exactly one left-most label); nil if none does.
func (s *certSet) cover(serverName string) *tls.Certificate {
	// RFC 6066 §3: host names in SNI compare case-insensitively.
	name := strings.ToLower(strings.TrimSuffix(serverName, "."))
	if c, ok := s.exact[name]; ok {
		return c
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		if c, ok := s.wildcard[parent]; ok {
			return c
		}
	}
	return nil
}

// certStore holds the current certificate set. Handshakes read it through
// an atomic pointer, so a reload swaps it without a lock and without
// touching open connections.
type certStore struct {
	load func() ([]tls.Certificate, error)
	cur  atomic.Pointer[certSet]
	// allowEmpty: tls.acme provides certificates, so tls.certificates may
	// be empty.
	allowEmpty bool
	// managed serves the names it manages (tls.acme, acme.go); nil without.
	// Set before the HTTPS listener serves, never changed after.
	managed managedCerts
}

// errNoCertificates is returned when the certificate list is empty.
var errNoCertificates = errors.New("no certificates")

// newCertStore loads the certificates once; load is called again on each
// reload.
func newCertStore(load func() ([]tls.Certificate, error), allowEmpty bool) (*certStore, error) {
	cs := &certStore{load: load, allowEmpty: allowEmpty}
	if _, err := cs.reload(); err != nil {
		return nil, err
	}
	return cs, nil
}

// reload reads the certificates again and swaps them in; on error the
// current set stays. It returns the number of certificates loaded.
func (cs *certStore) reload() (int, error) {
	certs, err := cs.load()
	if err != nil {
		return 0, err
	}
	if len(certs) == 0 && !cs.allowEmpty {
		return 0, errNoCertificates
	}
	cs.cur.Store(newCertSet(certs))
	return len(certs), nil
}

// use swaps in certs, loaded by load, which later reloads call: a
// configuration reload (reload.go) may name other files.
func (cs *certStore) use(load func() ([]tls.Certificate, error), certs []tls.Certificate) {
	cs.load = load
	cs.cur.Store(newCertSet(certs))
}

// covers reports whether a certificate of tls.certificates covers name.
func (cs *certStore) covers(name string) bool { return cs.cur.Load().cover(name) != nil }

// getCertificate is tls.Config.GetCertificate. A certificate of
// tls.certificates covering the name comes first; then the automatic
// certificate of a name tls.acme manages; then the default certificate.
// A tls-alpn-01 validation (RFC 8737 §3) is answered only for a managed
// name, with the challenge certificate.
func (cs *certStore) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	set := cs.cur.Load()
	if offersOnlyACME(hello) {
		if cs.managed == nil || !cs.managed.Manages(hello.ServerName) {
			return nil, errNotACMEHost
		}
		return cs.managed.GetCertificate(hello)
	}
	if c := set.cover(hello.ServerName); c != nil {
		return c, nil
	}
	if cs.managed != nil && cs.managed.Manages(hello.ServerName) {
		c, err := cs.managed.GetCertificate(hello)
		if err == nil || set.def == nil {
			// Not issued yet, and no default to fall back on.
			return c, err
		}
	}
	if set.def == nil {
		return nil, errNoCertificates
	}
	return set.def, nil
}

// errNotACMEHost refuses a tls-alpn-01 handshake for a name that tls.acme
// does not manage: no order of this node can be waiting on it.
var errNotACMEHost = errors.New("acme-tls/1 offered for a name tls.acme does not manage")

// serverTLSConfig is the HTTPS listener's TLS configuration: TLS 1.2 and
// up, Go's default cipher suites (AEAD with forward secrecy; Go applies
// its own server preference order), and ALPN offering HTTP/2 then
// HTTP/1.1 (RFC 7301; RFC 9113 §3.2 "h2").
// With tls.acme, acme-tls/1 is offered last, so that the CA's tls-alpn-01
// validation (RFC 8737 §3) can negotiate it; a client offering it among
// others still gets h2 or http/1.1, the server's preference order.
func serverTLSConfig(cs *certStore) *tls.Config {
	protos := []string{"h2", "http/1.1"}
	if cs.managed != nil {
		protos = append(protos, acme.ALPNProto)
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cs.getCertificate,
		NextProtos:     protos,
	}
}

// tlsServer is the HTTPS server: the public server's timeouts and header
// limit, TLS, and explicit HTTP/2 limits (http2Limits). It also wraps
// n.tlsLn in a tlsListener, which does the TLS handshakes and puts
// HTTP/1.1 connections through strictconn.WrapListener's checks, as publicServer
// does for plain HTTP (docs/security.md).
//
// The server is started with Serve, not ServeTLS: the listener returns
// connections whose handshake is done. TLSConfig is still set, because
// Serve configures HTTP/2 only when its NextProtos offers "h2" (and then
// edits it, hence the listener's own copy); HTTP/2 connections reach
// net/http as *tls.Conn and are served with http2Limits.
//
// ReadHeaderTimeout bounds the TLS handshake (PROXY header included) as
// well as an HTTP/1.1 request header, as net/http does when it handshakes
// itself; an HTTP/2 client has 10 s, fixed by net/http, to send its
// connection preface (RFC 9113 §3.4). IdleTimeout closes an HTTP/2
// connection with no open stream (GOAWAY NO_ERROR, RFC 9113 §6.8) just as
// it closes an idle HTTP/1.1 keep-alive. ReadTimeout and WriteTimeout stay
// 0, as on the plain listener: they would cut long bodies; on HTTP/2,
// WriteByteTimeout bounds a stalled writer instead.
//
// MaxHeaderBytes also bounds HTTP/2 requests: net/http advertises
// SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 §6.5.2) as MaxHeaderBytes plus
// 320 octets (RFC 9113 counts 32 octets of overhead per field) and answers
// a larger header list with 431, as for HTTP/1.1.
func (n *node) tlsServer(reg prometheus.Registerer) *http.Server {
	s := n.cfg.Server
	tlsCfg := serverTLSConfig(n.certs)
	failures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edged_tls_handshake_errors_total",
		Help: "TLS handshakes on the HTTPS listener that failed or timed out (the connection is closed).",
	})
	reg.MustRegister(failures)
	log := n.log.With("component", "https")
	n.tlsLn = newTLSListener(n.tlsLn, tlsCfg.Clone(), s.ReadHeaderTimeout.Std(), int(s.MaxHeaderBytes), log, failures)
	srv := &http.Server{
		Handler:           n.limitStreams(limitHeader(n.handler, int(s.MaxHeaderBytes))),
		TLSConfig:         tlsCfg,
		ConnState:         n.tracked.track,
		ReadHeaderTimeout: s.ReadHeaderTimeout.Std(),
		IdleTimeout:       s.IdleTimeout.Std(),
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Protocols:         new(http.Protocols),
		HTTP2:             http2Limits(),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	return srv
}

// HTTP/2 limits of the HTTPS listener. Each bounds what one connection can
// make the node hold; server.max_connections bounds the connections.
const (
	// http2MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS (RFC
	// 9113 §5.1.2), hence the number of handlers one connection can run at
	// once. RFC 9113 §6.5.2 recommends no less than 100 so as not to limit
	// parallelism needlessly; browsers open far fewer at a time, and every
	// stream is a handler and possibly an origin fetch, so 100 exactly.
	// A HEADERS frame past the limit is refused with RST_STREAM
	// (PROTOCOL_ERROR or REFUSED_STREAM, RFC 9113 §5.1.2); streams reset
	// before their handler started count against 4x this limit, past which
	// net/http closes the connection with ENHANCE_YOUR_CALM (the rapid
	// reset mitigation, CVE-2023-44487).
	http2MaxConcurrentStreams = 100

	// http2HeaderTableSize bounds the HPACK dynamic tables (RFC 7541 §4.2)
	// in both directions to the protocol's initial 4096 octets
	// (SETTINGS_HEADER_TABLE_SIZE, RFC 9113 §6.5.2): a client cannot make
	// the node keep more decoding state per connection, and the node does
	// not keep more encoding state even when a client offers it.
	http2HeaderTableSize = 4096

	// http2MaxReadFrameSize is SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2):
	// the smallest legal value, 16 KiB, rather than net/http's 1 MiB, so a
	// client cannot make the node buffer a 1 MiB frame per connection.
	// Requests are small on a CDN; this only limits uploads' frame size.
	http2MaxReadFrameSize = 16 << 10

	// http2ConnReceiveBuffer and http2StreamReceiveBuffer are the flow
	// control windows (RFC 9113 §5.2, §6.9) the node grants for request
	// bodies: the request body bytes one connection, or one stream, may
	// send before a handler reads them. They bound the memory a client
	// can fill with unread bodies to 1 MiB per connection; 256 KiB per
	// stream keeps one upload from taking the whole connection window.
	http2ConnReceiveBuffer   = 1 << 20
	http2StreamReceiveBuffer = 256 << 10

	// http2SendPingTimeout and http2PingTimeout: after 30 s without a frame
	// from the client the node sends a PING (RFC 9113 §6.7) and closes the
	// connection if no ACK comes within 15 s. This finds dead peers that
	// hold streams open (a response blocked on flow control writes
	// nothing, so WriteByteTimeout cannot see them).
	http2SendPingTimeout = 30 * time.Second
	http2PingTimeout     = 15 * time.Second

	// http2WriteByteTimeout closes a connection on which the node has had
	// bytes to write but could write none for 30 s: a client that stops
	// reading its socket does not hold its streams' handlers forever.
	http2WriteByteTimeout = 30 * time.Second
)

// http2Limits is the HTTPS server's HTTP/2 configuration: every limit
// explicit, rather than net/http's defaults, so they are reviewed and
// tested here (docs/security.md, "HTTP/2").
func http2Limits() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxConcurrentStreams:          http2MaxConcurrentStreams,
		MaxDecoderHeaderTableSize:     http2HeaderTableSize,
		MaxEncoderHeaderTableSize:     http2HeaderTableSize,
		MaxReadFrameSize:              http2MaxReadFrameSize,
		MaxReceiveBufferPerConnection: http2ConnReceiveBuffer,
		MaxReceiveBufferPerStream:     http2StreamReceiveBuffer,
		SendPingTimeout:               http2SendPingTimeout,
		PingTimeout:                   http2PingTimeout,
		WriteByteTimeout:              http2WriteByteTimeout,
	}
}

// stripHSTS removes Strict-Transport-Security from responses of the
// plain-HTTP listener: RFC 6797 §7.2 says an HSTS host must not send it
// over non-secure transport (sites[].hsts sets it for the site's
// responses, whichever listener they leave by).
func stripHSTS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&hstsStripper{ResponseWriter: w}, r)
	})
}

// hstsStripper deletes the field just before the header is sent.
type hstsStripper struct {
	http.ResponseWriter
	sent bool
}

func (s *hstsStripper) strip() {
	if !s.sent {
		s.ResponseWriter.Header().Del(config.HSTSHeader)
	}
}

func (s *hstsStripper) WriteHeader(code int) {
	s.strip()
	// A 1xx interim response sends the header too, but the final one
	// follows: keep stripping until then.
	s.sent = s.sent || code >= 200
	s.ResponseWriter.WriteHeader(code)
}

func (s *hstsStripper) Write(p []byte) (int, error) {
	s.strip()
	s.sent = true
	return s.ResponseWriter.Write(p)
}

// FlushError lets http.ResponseController flush, which sends the header.
func (s *hstsStripper) FlushError() error {
	s.strip()
	s.sent = true
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *hstsStripper) Unwrap() http.ResponseWriter { return s.ResponseWriter }
