package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"edged/edge/clientip"
	"edged/edge/config"
)

// listen opens a public listener (what is "public" or "tls", configured
// by field: listen or tls.listen) with the server section's wrappers, innermost first: the PROXY
// protocol (server.proxy_protocol, trusted peers only), then the cap on
// open connections (server.max_connections, one cap for both listeners:
// connlimit.go), so a connection holds its slot while its PROXY header is
// read. TLS, when used, goes on top.
func (n *node) listen(what, field, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener (%s %s): %w", what, field, addr, err)
	}
	s := n.cfg.Server
	if s.ProxyProtocol {
		// The header must arrive within the time allowed for request
		// headers: both guard against clients that connect and stall.
		ln = clientip.Listen(ln, n.cfg.TrustedProxies(), s.ReadHeaderTimeout.Std())
	}
	return n.connLimit().Listen(ln), nil
}

// hasHSTS reports whether a site of cfg sets hsts, so that the plain-HTTP
// listener must strip it.
func hasHSTS(cfg *config.Config) bool {
	for _, s := range cfg.Sites {
		if s.HSTS != "" {
			return true
		}
	}
	return false
}

// whenHSTS applies stripHSTS to the plain-HTTP listener's responses while
// a site sets hsts (n.hsts, which a reload updates); otherwise responses
// go out as they are, without the wrapper.
func (n *node) whenHSTS(next http.Handler) http.Handler {
	strip := stripHSTS(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.hsts.Load() {
			strip.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// watchReload calls reload on every SIGHUP until ctx ends or the returned
// function is called.
func (n *node) watchReload(ctx context.Context) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				_ = n.reload() // logged by reload; a refused configuration changes nothing
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}
