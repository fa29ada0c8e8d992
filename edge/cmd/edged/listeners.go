package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"edged/edge/clientip"
	"edged/edge/ratelimit"
)

// listen opens a public listener (what is "public" or "tls", configured
// by field: listen or tls.listen) with the server section's wrappers, innermost first: the PROXY
// protocol (server.proxy_protocol, trusted peers only), then the cap on
// open connections (server.max_connections), so a connection holds its slot
// while its PROXY header is read. TLS, when used, goes on top.
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
	if s.MaxConnections > 0 {
		ln = ratelimit.LimitListener(ln, s.MaxConnections)
	}
	return ln, nil
}

// hasHSTS reports whether a site sets hsts, so that the plain-HTTP listener
// must strip it.
func (n *node) hasHSTS() bool {
	for _, s := range n.cfg.Sites {
		if s.HSTS != "" {
			return true
		}
	}
	return false
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
				_ = n.reload() // logged by reload; the old certificates stay
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
