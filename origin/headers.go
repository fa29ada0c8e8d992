package origin

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"edged/internal/httpsyntax"
)

// PoolHeader is the field in which an edge tells its shield the pool a
// request is meant for (Options.ShieldPool): two pools may be sent the same
// URL (a route's strip_prefix or upstream_path), so a shield that keyed and
// routed by the URL alone would answer one pool's request with another
// pool's object. Whom a shield believes it from is the shield's business
// (edge: a trusted proxy's only).
const PoolHeader = "Edged-Pool"

// forwardHeader turns the client's header into the one sent upstream: a copy
// without hop-by-hop fields, with forwarding fields and Via added.
func (c *Client) forwardHeader(out *Outbound) http.Header {
	f := copyWithRoom(out.Header, forwardAdded)
	h := f.h
	if httpsyntax.RemoveHopByHop(h, httpsyntax.DropTE) {
		f.set("Te", "trailers")
	}
	upgradeHeader(h, out)
	// Only this node says which pool it means, and only to a shield
	// (viaShields): a client's own value is never passed on.
	delete(h, PoolHeader)
	c.forwardSurrogateCapability(&f)
	if c.opts.Direct {
		// A forward proxy hides its clients: the destination learns
		// nothing of them from this node (Options.Direct).
		c.forwardVia(&f)
		return keepNoUserAgent(&f)
	}
	if ip := clientAddr(out.ClientIP); ip != "" {
		// X-Forwarded-For (de facto): append the client to the chain it sent.
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		f.set("X-Forwarded-For", ip)
	}
	// X-Forwarded-Proto/-Host describe what this node saw; the client's own
	// values would let it spoof them, so they are overwritten.
	if out.Proto != "" {
		f.set("X-Forwarded-Proto", out.Proto)
	} else {
		delete(h, "X-Forwarded-Proto")
	}
	if out.Host != "" {
		f.set("X-Forwarded-Host", out.Host)
	} else {
		delete(h, "X-Forwarded-Host")
	}
	c.forwardVia(&f)
	return keepNoUserAgent(&f)
}

// forwardAdded is how many fields forwardHeader adds to a client's header
// at most, Te and upgrades aside: X-Forwarded-For, -Proto, -Host, Via,
// Surrogate-Capability and, to a shield, PoolHeader (User-Agent is one most
// clients send). Its copy has room for them.
const forwardAdded = 6

// forwardSurrogateCapability removes the client's Surrogate-Capability
// unless Options.KeepSurrogateCapability, and appends this node's member
// (Options.SurrogateCapability; W3C Edge Architecture Specification 1.0: each
// surrogate on the path appends its own).
func (c *Client) forwardSurrogateCapability(f *headerCopy) {
	if !c.opts.KeepSurrogateCapability {
		delete(f.h, "Surrogate-Capability")
	}
	if v := c.opts.SurrogateCapability; v != "" {
		if prior := f.h["Surrogate-Capability"]; len(prior) > 0 {
			v = strings.Join(prior, ", ") + ", " + v
		}
		f.set("Surrogate-Capability", v)
	}
}

// headerCopy is a copy of a header with room for the values of fields to
// be added: the copy and the fields forwardHeader adds took 7 allocations
// of a miss when made by Clone and Set (#17), 3 this way.
type headerCopy struct {
	h     http.Header
	spare []string // unused values of the copy's one backing array
}

// copyWithRoom copies src as http.Header.Clone does (one backing array for
// every value, each field's slice capped so that appending to one never
// writes into the next), with room for added fields and their values.
func copyWithRoom(src http.Header, added int) headerCopy {
	nv := 0
	for _, vv := range src {
		nv += len(vv)
	}
	sv := make([]string, nv+added+2) // +2: Te, User-Agent
	h := make(http.Header, len(src)+added)
	for k, vv := range src {
		if vv == nil {
			h[k] = nil // as Clone: a field present without values stays so
			continue
		}
		n := copy(sv, vv)
		h[k] = sv[:n:n]
		sv = sv[n:]
	}
	return headerCopy{h: h, spare: sv}
}

// set makes v the one value of the field name, which is canonical.
func (f *headerCopy) set(name, v string) {
	if len(f.spare) == 0 {
		f.h[name] = []string{v}
		return
	}
	f.spare[0] = v
	f.h[name] = f.spare[:1:1]
	f.spare = f.spare[1:]
}

// forwardVia appends this node's entry to the request's Via (RFC 9110
// §7.6.3), unless Options.OmitVia hides the node.
func (c *Client) forwardVia(f *headerCopy) {
	if !c.opts.OmitVia {
		f.set("Via", viaList(f.h["Via"], c.viaRequest))
	}
}

// keepNoUserAgent returns f's header. Go's transport sends "User-Agent:
// Go-http-client/1.1" when the field is absent; present and empty
// suppresses it, so none is invented.
func keepNoUserAgent(f *headerCopy) http.Header {
	if _, ok := f.h["User-Agent"]; !ok {
		f.set("User-Agent", "")
	}
	return f.h
}

// addVia appends this node's entry to Via (RFC 9110 §7.6.3: a proxy
// appends its own), unless Options.OmitVia hides the node.
func (c *Client) addVia(h http.Header, entry string) {
	if !c.opts.OmitVia {
		h["Via"] = []string{viaList(h["Via"], entry)}
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
	dropEmptyCacheControl(resp.Header)
	entry := c.viaRequest // "1.1 " + Via, made once: most upstreams answer in HTTP/1.1
	if v := protocolVersion(resp.ProtoMajor, resp.ProtoMinor); v != "1.1" {
		entry = v + " " + c.opts.Via
	}
	c.addVia(resp.Header, entry)
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

// dropEmptyCacheControl removes a Cache-Control field whose lines are all
// empty. upConn adds one to a response head with Pragma and no
// Cache-Control (respFramer.markNoCacheControl), so that net/http's
// http.ReadResponse keeps the header as sent instead of adding
// "Cache-Control: no-cache" (RFC 9111 §5.4: Pragma has no meaning in a
// response); an empty field an upstream sent itself lists no directive,
// so removing it changes nothing (RFC 9110 §5.6.1).
func dropEmptyCacheControl(h http.Header) {
	v, ok := h["Cache-Control"]
	if !ok {
		return
	}
	for _, line := range v {
		if strings.Trim(line, " \t") != "" {
			return
		}
	}
	delete(h, "Cache-Control")
}

// viaList is the Via list prior with entry added to its end (RFC 9110
// §7.6.3), as one field line so the order of entries is preserved.
func viaList(prior []string, entry string) string {
	if len(prior) > 0 {
		entry = strings.Join(prior, ", ") + ", " + entry
	}
	return entry
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
	if strings.IndexByte(addr, ':') < 0 {
		// An IPv4 address without a port, as the edge passes it: nothing
		// to split (and SplitHostPort's error would be an allocation).
		return addr
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// MaxResponseFields bounds the field lines of an upstream response head,
// counted as the upstream sent them (hop-by-hop fields included; net/http
// has taken out only Transfer-Encoding and a Connection of "close"); one
// with more is refused as a broken response ([ErrProtocol]). The head's
// bytes are bounded too (1 MiB, as net/http's), but not what they cost
// once parsed: a 1 MiB head of 80,000 one-letter fields takes some 7 MiB
// of maps and strings, stored with the response (the memory tier counts
// about half of it), copied for every hit sent and decoded again for
// every disk hit, none of it in a budget of cache.memory. An origin, or
// any server a forward proxy's client names, sending such heads took a
// node with cache.memory 64MiB to 240 MiB of anonymous memory with a few
// hundred requests. Real responses carry tens of fields; Varnish allows
// 64 by default.
const MaxResponseFields = 1000
