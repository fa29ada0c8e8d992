package edge

import (
	"net/netip"
	"time"
)

// Observed is one finished request as Options.Observer sees it.
type Observed struct {
	Host, Path string // as the client sent them (Path without the query)
	Client     netip.Addr
	Site       string // "" when no site served it
	Route      string // the route's path prefix; "" when no route served it
	Status     int
	Cache      string // the cache outcome, as in edged_requests_total
	Duration   time.Duration
}

// observe hands x's request to Options.Observer. It is called from done,
// before x is recycled, only when an Observer is set: a node without one
// pays nothing on the hit path.
func (x *exchange) observe(obs func(Observed), elapsed time.Duration) {
	o := Observed{Host: x.r.Host, Path: x.r.URL.Path, Client: x.h.client(x.r), Status: x.w.status, Cache: x.outcome.String(), Duration: elapsed}
	if x.route != nil {
		o.Route = x.route.PathPrefix
		if x.site != nil {
			o.Site = x.site.Name
		}
	}
	obs(o)
}
