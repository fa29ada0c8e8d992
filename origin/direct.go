package origin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// direct sends rq to the server its Outbound names (Options.Direct): the
// upstream of a forward proxy, where every request has its own
// destination. The connections are pooled per host:port by the Client's
// transport; there is one attempt, because a forward proxy does not know
// which of a destination's failures are safe to repeat elsewhere.
func (c *Client) direct(ctx context.Context, rq *request) (*http.Response, error) {
	out := rq.out
	if out.Host == "" {
		return nil, errors.New("origin: Direct request without Host")
	}
	if out.Proto != "http" && out.Proto != "https" {
		return nil, fmt.Errorf("origin: Direct request with scheme %q (want http or https)", out.Proto)
	}
	host, addr := out.Host, dialAddr(out.Proto, out.Host)
	if out.DialAddr.IsValid() && out.Proto == "http" {
		// The request's URL names the address, so that the transport
		// dials it and pools its connections by it; the Host field
		// still names the server.
		addr = out.DialAddr.String()
		host = addr
	}
	up := &upstream{
		base:     out.Proto + "://" + host,
		scheme:   out.Proto,
		host:     host,
		addr:     addr,
		weight:   1,
		tr:       c.transport,
		bodyIdle: c.opts.BodyTimeout,
	}
	resp, f := c.try(ctx, up, rq)
	if f != nil {
		return nil, f.err
	}
	return resp, nil
}
