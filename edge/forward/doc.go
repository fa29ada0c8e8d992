// Package forward is edged's forward-proxy role: an http.Handler for a
// private network's clients that answers absolute-form requests
// ("GET http://example.com/x") through the node's shared cache, opens
// CONNECT tunnels (TLS is never decrypted), decides what each client may
// reach, hides the clients from the destinations, and logs who fetched what.
//
// # Contract
//
// A request goes through the steps of [Proxy.ServeHTTP] in order; the
// first that refuses answers with a short text page, and a refusal by a
// rule or check names it in the X-Edged-Rule field ([RuleHeader]):
//
//   - clients: the client's network is not in Options.Clients (loopback
//     only when none are configured: a proxy is never open by accident);
//   - (origin-form requests are answered here, see below);
//   - auth: Options.Users is set and Proxy-Authorization does not hold a
//     valid Basic credential (407 with Proxy-Authenticate);
//   - connect_ports: CONNECT to a port not in Options.ConnectPorts (443);
//   - http_ports: an absolute-form request to a port not in
//     Options.HTTPPorts ([DefaultHTTPPorts]: the proxy speaks HTTP to the
//     port, and must not to SMTP's or another protocol's);
//   - the access rules' own names ([Rules]; 429 for a rate limit);
//   - destination: every address of the host is one the [Dialer] refuses
//     (loopback, private, link-local, metadata, this proxy);
//   - tunnels: the client already has MaxTunnelsPerClient tunnels (429).
//
// Origin-form requests name no destination: /proxy.pac (the auto-config
// file, generated from Options.PAC) and /healthz are answered to admitted
// clients without authentication (browsers fetch the PAC file directly),
// anything else gets 400.
//
// Absolute-form http requests are passed to Options.Cache, an
// edge.Handler whose upstream is an origin.Client in Direct mode dialling
// through the Dialer, so they are cached under the same RFC 9111 rules as
// the reverse-proxy roles (a shared cache: private responses and those to
// requests with Authorization are not stored unless RFC 9111 §3.5 allows)
// and every client behind the proxy shares the hits. Before that the
// request loses its hop-by-hop and Proxy-* fields (Proxy-Authorization is
// never forwarded) and Options.RemoveHeaders (by default X-Forwarded-For,
// Forwarded, Via, From, X-Real-IP), and gains Options.SetHeaders.
//
// # Reconfiguration
//
// A running Proxy takes new settings whole ([Prepare], then
// [Proxy.Reconfigure]; the Dialer's by [Dialer.Reconfigure]): every
// request and tunnel that starts afterwards sees them, and each one under
// way keeps those it started with to its end. An open tunnel is never cut
// by a reconfiguration, even one that would now refuse it (Squid keeps its
// tunnels on a reconfigure too). The wiring (Cache, Dialer, Rules, loggers,
// metrics, clock) is fixed by New; Rules may decide anew by itself.
//
// # Safety
//
// The Dialer checks every address in net.Dialer's Control hook, after DNS
// resolution and before connect(2): a name that resolves, or is rebound,
// to a refused address is refused, whoever asked (tunnel or cache fill).
// The proxy also resolves the host before its rules so that a refused
// destination gets a 403 rather than a 502; that lookup is a courtesy and
// the dial is the check.
//
// The binary wraps the listener as the reverse roles do (strictconn.WrapListener
// against request smuggling, MaxHeaderBytes, ReadHeaderTimeout,
// IdleTimeout); a tunnel leaves the framer with [strictconn.Release].
package forward
