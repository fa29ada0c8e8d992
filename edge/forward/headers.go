package forward

import (
	"net/http"
	"strings"
)

// hopByHop are the fields that concern one connection only (RFC 9110
// §7.6.1), with the de-facto Proxy-Connection and Keep-Alive.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Upgrade"}

// anonymize prepares a client's request header for the destination: the
// fields Connection names and the hop-by-hop ones go (RFC 9110 §7.6.1),
// every Proxy-* field goes (Proxy-Authorization is this proxy's credential
// and is never forwarded, RFC 9110 §11.7.2), then the configured fields are
// removed and replaced. TE and Transfer-Encoding are left to the upstream
// client, which handles them (origin.Client.Do).
func (p *Proxy) anonymize(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		delete(h, name)
	}
	for name := range h {
		if len(name) > 6 && strings.EqualFold(name[:6], "Proxy-") {
			delete(h, name)
		}
	}
	for _, name := range p.remove {
		delete(h, name)
	}
	for name, v := range p.set {
		h[name] = []string{v}
	}
}
