// Package acme gets TLS certificates from an ACME CA (RFC 8555) for a
// fixed set of host names, keeps them in a storage, and renews them in the
// background, with certmagic doing the protocol, the renewals, OCSP
// stapling and the locking.
//
// # Contract
//
// A Manager answers the CA's challenges on the node's own listeners and
// never opens one of its own: http-01 (RFC 8555 §8.3) through
// [Manager.HTTPHandler] in front of the plain-HTTP handler, tls-alpn-01
// (RFC 8737) through [Manager.GetCertificate] on the HTTPS listener, whose
// NextProtos must offer [ALPNProto]; a connection that negotiated it must be
// closed once the handshake is done (RFC 8737 §3). Only the managed hosts
// are answered: a challenge request or handshake for any other name is not
// the Manager's, so a stranger cannot make it read the storage.
//
// [Manager.Start] returns at once: certificates already in the storage are
// served as soon as they are loaded, missing ones are asked for in the
// background, with retries, and renewed in the window the CA suggests
// (ACME Renewal Information), else when two thirds of their lifetime has
// passed. Nodes that share one storage ([KVStorage] on NATS) share the
// certificates and take a lock per name before asking the CA, so a fleet
// asks once per name; any of them can answer the challenges of an order
// another one placed (certmagic's distributed solving keeps the challenge
// tokens in the storage).
package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
)

// ALPNProto is the ALPN protocol of the tls-alpn-01 challenge (RFC 8737
// §6.2), which the HTTPS listener's NextProtos must offer.
const ALPNProto = acmez.ACMETLS1Protocol

// Options configure a Manager. Every field without a default is required.
type Options struct {
	// Hosts are the names to get certificates for: exact names, one
	// certificate each.
	Hosts []string
	// CA is the URL of the ACME directory.
	CA string
	// Email is the account's contact; optional.
	Email string
	// Roots verify the CA's HTTPS server; nil means the system's roots.
	Roots *x509.CertPool
	// HTTP01 and TLSALPN01 say which challenges are answered; at least one.
	HTTP01, TLSALPN01 bool
	// HTTPAddr and TLSAddr are the addresses the plain-HTTP and HTTPS
	// listeners are bound to. certmagic binds a challenge server of its
	// own unless the port is taken; given the listeners' own addresses it
	// finds them taken, and the node's listeners answer.
	HTTPAddr, TLSAddr string
	// Storage keeps the certificates, keys, account, challenge tokens and
	// locks: certmagic.FileStorage for one node, KVStorage for a fleet.
	Storage certmagic.Storage
	// Logger receives certmagic's logs; nil discards them.
	Logger *slog.Logger
	// RenewCheckInterval is how often the certificates are checked for
	// renewal; 0 means certmagic's default, 10 minutes.
	RenewCheckInterval time.Duration
}

// Manager gets and renews the certificates of Options.Hosts.
type Manager struct {
	magic  *certmagic.Config
	cache  *certmagic.Cache
	issuer *certmagic.ACMEIssuer
	hosts  map[string]bool // lower-case
	list   []string
	log    *slog.Logger

	mu     sync.Mutex // guards cancel
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks o and sets up a Manager; nothing is asked of the CA until
// Start.
func New(o Options) (*Manager, error) {
	if len(o.Hosts) == 0 {
		return nil, errors.New("acme: no hosts")
	}
	if o.CA == "" || o.Storage == nil {
		return nil, errors.New("acme: CA and Storage are required")
	}
	if !o.HTTP01 && !o.TLSALPN01 {
		return nil, errors.New("acme: no challenge enabled")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	httpHost, httpPort, err := splitAddr(o.HTTPAddr)
	if err != nil && o.HTTP01 {
		return nil, fmt.Errorf("acme: HTTPAddr: %w", err)
	}
	_, tlsPort, err := splitAddr(o.TLSAddr)
	if err != nil && o.TLSALPN01 {
		return nil, fmt.Errorf("acme: TLSAddr: %w", err)
	}
	m := &Manager{hosts: make(map[string]bool), log: log}
	for _, h := range o.Hosts {
		h = strings.ToLower(h)
		if !m.hosts[h] {
			m.hosts[h] = true
			m.list = append(m.list, h)
		}
	}
	zlog := zapToSlog(log)
	// The cache asks which Config manages a certificate; there is one.
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		Logger:             zlog,
		RenewCheckInterval: o.RenewCheckInterval,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{Storage: o.Storage, Logger: zlog, OnEvent: m.onEvent})
	m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA: o.CA, Email: o.Email,
		// Asking for a certificate is accepting the CA's terms (RFC 8555
		// §7.3, termsOfServiceAgreed); docs/config.md says so.
		Agreed:                  true,
		DisableHTTPChallenge:    !o.HTTP01,
		DisableTLSALPNChallenge: !o.TLSALPN01,
		ListenHost:              httpHost,
		AltHTTPPort:             httpPort,
		AltTLSALPNPort:          tlsPort,
		TrustedRoots:            o.Roots,
		Logger:                  zlog,
	})
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// splitAddr returns the host and port of a listener's address.
func splitAddr(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 {
		return "", 0, fmt.Errorf("no port in %q", addr)
	}
	return host, p, nil
}

// onEvent logs certmagic's certificate events at the node's levels:
// obtained and renewed certificates at info, failures at error.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_obtained":
		m.log.Info("acme: certificate obtained", "identifier", data["identifier"], "renewal", data["renewal"], "issuer", data["issuer"])
	case "cert_failed":
		m.log.Error("acme: certificate not obtained; retrying in the background", "identifier", data["identifier"], "renewal", data["renewal"], "err", data["error"])
	}
	return nil
}

// Start loads the stored certificates and asks the CA for the missing ones,
// in the background: it returns at once. Close stops it.
func (m *Manager) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	m.mu.Lock()
	m.cancel = cancel
	m.mu.Unlock()
	m.wg.Go(func() {
		// ManageAsync obtains in the background but loads stored
		// certificates first, which waits on the storage: on NATS, on a
		// bus that may still be connecting. The node serves meanwhile.
		if err := m.magic.ManageAsync(ctx, m.list); err != nil && ctx.Err() == nil {
			m.log.Error("acme: certificates not managed", "hosts", m.list, "err", err)
		}
	})
}

// Close stops the renewals and the pending orders.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.cancel != nil {
		m.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
	m.cache.Stop()
}

// Manages reports whether name is one of the managed hosts.
func (m *Manager) Manages(name string) bool {
	return m.hosts[strings.ToLower(strings.TrimSuffix(name, "."))]
}

// HTTPHandler answers the http-01 challenges of the managed hosts (RFC
// 8555 §8.3: GET /.well-known/acme-challenge/TOKEN) and hands every other
// request to next. It goes in front of everything else on the plain-HTTP
// listener, so that no redirect to HTTPS or access rule stands in the way.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	solve := m.issuer.HTTPChallengeHandler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if certmagic.LooksLikeHTTPChallenge(r) && m.Manages(hostOnly(r.Host)) {
			solve.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errNotManaged is GetCertificate's answer for a name it does not manage.
var errNotManaged = errors.New("acme: no certificate for this name")

// GetCertificate is tls.Config.GetCertificate for the managed hosts: the
// certificate of hello's name, or the tls-alpn-01 challenge certificate
// when hello offers acme-tls/1 (RFC 8737 §3). It fails for any other name.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if !m.Manages(hello.ServerName) {
		return nil, errNotManaged
	}
	return m.magic.GetCertificate(hello)
}

// hostOnly is the host of a Host header, without port.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
