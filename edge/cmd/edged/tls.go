package main

import (
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"

	"edged/edge/config"
)

// http2MaxConcurrentStreams bounds the requests one HTTP/2 connection may
// have in flight (RFC 9113 §5.1.2 SETTINGS_MAX_CONCURRENT_STREAMS); 250 is
// what net/http and most CDNs use.
const http2MaxConcurrentStreams = 250

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

// pick returns the certificate for an SNI name: an exact match, then a
// wildcard covering one label (RFC 6125 §6.4.3: "*" matches exactly one
// left-most label), then the default.
func (s *certSet) pick(serverName string) *tls.Certificate {
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
	return s.def
}

// certStore holds the current certificate set. Handshakes read it through
// an atomic pointer, so a reload swaps it without a lock and without
// touching open connections.
type certStore struct {
	load func() ([]tls.Certificate, error)
	cur  atomic.Pointer[certSet]
}

// errNoCertificates is returned when the certificate list is empty.
var errNoCertificates = errors.New("no certificates")

// newCertStore loads the certificates once; load is called again on each
// reload.
func newCertStore(load func() ([]tls.Certificate, error)) (*certStore, error) {
	cs := &certStore{load: load}
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
	if len(certs) == 0 {
		return 0, errNoCertificates
	}
	cs.cur.Store(newCertSet(certs))
	return len(certs), nil
}

// getCertificate is tls.Config.GetCertificate.
func (cs *certStore) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return cs.cur.Load().pick(hello.ServerName), nil
}

// serverTLSConfig is the HTTPS listener's TLS configuration: TLS 1.2 and
// up, Go's default cipher suites (AEAD with forward secrecy; Go applies
// its own server preference order), and ALPN offering HTTP/2 then
// HTTP/1.1 (RFC 7301; RFC 9113 §3.2 "h2").
func serverTLSConfig(cs *certStore) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cs.getCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// tlsServer is the HTTPS server: the public server's settings plus TLS and
// HTTP/2 limits. IdleTimeout applies to HTTP/2 connections too.
func (n *node) tlsServer() *http.Server {
	s := n.publicServer()
	s.TLSConfig = serverTLSConfig(n.certs)
	s.Protocols = new(http.Protocols)
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetHTTP2(true)
	s.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: http2MaxConcurrentStreams}
	return s
}

// reload is what SIGHUP does: read the certificate files again. Open
// connections keep the certificate they were set up with; new handshakes
// get the new set. A failed reload keeps the old set.
func (n *node) reload() error {
	if n.certs == nil {
		n.log.Info("reload: nothing to reload (no tls.listen)")
		return nil
	}
	count, err := n.certs.reload()
	if err != nil {
		n.log.Error("reload: certificates not reloaded; keeping the current ones", "err", err)
		return err
	}
	n.log.Info("reload: certificates reloaded", "certificates", count)
	return nil
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
