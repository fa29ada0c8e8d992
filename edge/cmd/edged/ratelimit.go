package main

import (
	"fmt"

	"edged/edge"
	"edged/edge/ratelimit"
	"edged/edge/ratelimit/fleet"
)

// shareRateLimits shares the use of the routes' rate limits marked shared
// over the purge bus's NATS connection (edge/ratelimit/fleet documents the
// approximation). Without such a route, or a bus, nothing is shared. On a
// reload (reload.go) the new routes' limiters take the old ones' place.
func (n *node) shareRateLimits(sites []*edge.Site) error {
	limiters := sharedLimiters(sites)
	if n.share != nil {
		n.share.SetLimiters(limiters)
		return nil
	}
	if len(limiters) == 0 || n.bus == nil || n.bus.Conn() == nil {
		return nil
	}
	s, err := fleet.New(fleet.Options{
		Conn:     fleet.NATS(n.bus.Conn()),
		Limiters: limiters,
		Logger:   n.log.With("component", "ratelimit"),
	})
	if err != nil {
		return fmt.Errorf("shared rate limits: %w", err)
	}
	n.share = s
	return nil
}

// sharedLimiters names each shared limiter by its site and path prefix,
// which mean the same route on every node of a fleet with one
// configuration; a prefix a site repeats (routes told apart by other
// matches) gets its position too.
func sharedLimiters(sites []*edge.Site) map[string]*ratelimit.Limiter {
	out := make(map[string]*ratelimit.Limiter)
	for _, s := range sites {
		for i, r := range s.Routes {
			if r.RateLimit == nil || !r.RateLimit.Shared() {
				continue
			}
			name := s.Name + " " + r.PathPrefix
			if _, dup := out[name]; dup {
				name = fmt.Sprintf("%s#%d", name, i)
			}
			out[name] = r.RateLimit
		}
	}
	return out
}

// closeVerifiers stops the routes' JWK Set refreshes.
func closeVerifiers(sites []*edge.Site) {
	for _, s := range sites {
		for _, r := range s.Routes {
			if r.Auth != nil {
				r.Auth.Close()
			}
		}
	}
}
