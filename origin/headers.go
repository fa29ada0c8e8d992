package origin

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"edged/internal/httpsyntax"
)

// forwardHeader turns the client's header into the one sent upstream: a copy
// without hop-by-hop fields, with forwarding fields and Via added.
func (c *Client) forwardHeader(out *Outbound) http.Header {
	h := out.Header.Clone()
	if h == nil {
		h = make(http.Header, 4)
	}
	if httpsyntax.RemoveHopByHop(h, httpsyntax.DropTE) {
		h.Set("Te", "trailers")
	}
	upgradeHeader(h, out)
	if c.opts.Direct {
		// A forward proxy hides its clients: the destination learns
		// nothing of them from this node (Options.Direct).
		c.addVia(h, c.viaRequest)
		return keepNoUserAgent(h)
	}
	if ip := clientAddr(out.ClientIP); ip != "" {
		// X-Forwarded-For (de facto): append the client to the chain it sent.
		if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h.Set("X-Forwarded-For", ip)
	}
	// X-Forwarded-Proto/-Host describe what this node saw; the client's own
	// values would let it spoof them, so they are overwritten.
	if out.Proto != "" {
		h.Set("X-Forwarded-Proto", out.Proto)
	} else {
		h.Del("X-Forwarded-Proto")
	}
	if out.Host != "" {
		h.Set("X-Forwarded-Host", out.Host)
	} else {
		h.Del("X-Forwarded-Host")
	}
	c.addVia(h, c.viaRequest)
	return keepNoUserAgent(h)
}

// keepNoUserAgent returns h. Go's transport sends "User-Agent:
// Go-http-client/1.1" when the field is absent; present and empty
// suppresses it, so none is invented.
func keepNoUserAgent(h http.Header) http.Header {
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""}
	}
	return h
}

// addVia appends this node's entry to Via (RFC 9110 §7.6.3: a proxy
// appends its own), unless Options.OmitVia hides the node.
func (c *Client) addVia(h http.Header, entry string) {
	if !c.opts.OmitVia {
		appendVia(h, entry)
	}
}

// cleanResponseHeader removes hop-by-hop fields from an upstream response
// (RFC 9110 §7.6.1) and appends this node's Via entry (RFC 9110 §7.6.3),
// whose received-protocol is the version the upstream answered with.
//
// Go's transport deletes an HTTP/1.1 response's Connection field when it
// holds "close" (httputil.ReverseProxy keeps the fields it named); Do
// removes those first, from the names the connection's framer read.
func (c *Client) cleanResponseHeader(resp *http.Response) {
	if resp.Header == nil {
		resp.Header = make(http.Header, 1)
	}
	httpsyntax.RemoveHopByHop(resp.Header, httpsyntax.DropTE)
	dropInvalidNames(resp.Header)
	c.addVia(resp.Header, protocolVersion(resp.ProtoMajor, resp.ProtoMinor)+" "+c.opts.Via)
}

// dropInvalidNames removes fields whose name is not a token (RFC 9110 §5.1).
// Go's transport accepts a response line such as "X A: b" that its server
// would refuse in a request; such a field must not be stored and replayed
// to every client, where a lenient parser downstream could read it as
// something else (RFC 9112 §5.1: no whitespace in a field name).
func dropInvalidNames(h http.Header) {
	for name := range h {
		if !httpsyntax.IsToken(name) {
			delete(h, name)
		}
	}
}

// appendVia adds entry to the end of the Via list (RFC 9110 §7.6.3), as one
// field line so the order of entries is preserved.
func appendVia(h http.Header, entry string) {
	if prior := h.Values("Via"); len(prior) > 0 {
		entry = strings.Join(prior, ", ") + ", " + entry
	}
	h.Set("Via", entry)
}

// protocolVersion formats a received-protocol version (RFC 9110 §7.6.3):
// "1.1", "1.0", "2".
func protocolVersion(major, minor int) string {
	if major == 0 && minor == 0 {
		major, minor = 1, 1
	}
	if major >= 2 && minor == 0 {
		return strconv.Itoa(major)
	}
	return strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

// clientAddr returns the client's IP from an "ip" or "ip:port" address.
func clientAddr(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
