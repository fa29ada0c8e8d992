package forward

import (
	"net/http"
	"strings"

	"edged/internal/httpsyntax"
)

// anonymize prepares a client's request header for the destination: the
// fields Connection names and the hop-by-hop ones go (RFC 9110 §7.6.1),
// every Proxy-* field goes (Proxy-Authorization is this proxy's credential
// and is never forwarded, RFC 9110 §11.7.2), then the configured fields are
// removed and replaced. TE is left to the upstream client, which reads it
// and then removes it (origin.Client.Do), even when Connection names it.
func (s *Settings) anonymize(h http.Header) {
	httpsyntax.RemoveHopByHop(h, httpsyntax.KeepTE)
	for name := range h {
		if len(name) > 6 && strings.EqualFold(name[:6], "Proxy-") {
			delete(h, name)
		}
	}
	for _, name := range s.remove {
		delete(h, name)
	}
	for name, v := range s.set {
		h[name] = []string{v}
	}
}
