package forward

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"edged/edge/accesslog"
	"edged/internal/portset"
)

// Options configure a Proxy. Zero fields take the default named on them.
type Options struct {
	// Name identifies the proxy in the JSON log, Proxy-Agent and the
	// Cache-Status of its own refusals (the binary gives it the cache's
	// name, so that one name answers for both); the cache's own name (in
	// the Cache-Status of what it answers, and Via) is the Cache
	// handler's. Empty means "edged-forward".
	Name string
	// Cache answers absolute-form requests: an edge.Handler whose upstream
	// is an origin.Client in Direct mode dialling through Dialer, so the
	// shared cache, its RFC 9111 rules and its limits apply. Required.
	Cache http.Handler
	// Dialer opens CONNECT tunnels and refuses destinations that the proxy
	// must not reach (see Dialer). Required; the Cache's client should use
	// the same one.
	Dialer *Dialer
	// Rules decide what a client may reach; nil allows every destination
	// the Dialer allows.
	Rules Rules
	// Clients are the client networks admitted. Empty admits loopback
	// clients only, so that a proxy is never open by accident.
	Clients []netip.Prefix
	// ConnectPorts are the ports CONNECT may reach: ports ("443") and
	// ranges ("8000-8999"). Nil means 443 only; empty allows none.
	ConnectPorts []string
	// HTTPPorts are the ports absolute-form requests (GET http://host:port/)
	// may reach, written as ConnectPorts are. Nil means DefaultHTTPPorts;
	// empty allows none.
	HTTPPorts []string
	// RemoveHeaders are the request fields removed before a request is
	// passed on (names, case-insensitive). Nil means
	// DefaultRemoveHeaders; empty removes none. Proxy-* fields and the
	// hop-by-hop ones are removed whatever this says.
	RemoveHeaders []string
	// SetHeaders replace (or add) request fields after RemoveHeaders, e.g.
	// a fixed User-Agent.
	SetHeaders map[string]string
	// Users checks Proxy-Authorization; nil means no authentication.
	Users *Users
	// Realm is the Basic realm in Proxy-Authenticate. Empty means "edged".
	Realm string
	// TunnelIdle closes a tunnel when no byte went either way for this
	// long. Zero means 5 minutes.
	TunnelIdle time.Duration
	// TunnelMax closes a tunnel this long after it opened. Zero means 1
	// hour.
	TunnelMax time.Duration
	// MaxTunnelsPerClient bounds the tunnels open from one client address
	// (429 past it). Zero means 64.
	MaxTunnelsPerClient int
	// NoTunnelLimit lets a client open any number of tunnels.
	NoTunnelLimit bool
	// PAC configures /proxy.pac.
	PAC PAC
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// AccessLog receives one line per request and per tunnel (an
	// *accesslog.Writer, which never makes a request wait); nil disables
	// them.
	AccessLog interface{ Log(accesslog.Entry) }
	// Registerer receives the proxy's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock of rules and logs; nil means time.Now.
	Now func() time.Time
}

// PAC configures the proxy auto-config file served at /proxy.pac.
type PAC struct {
	// Proxy is the host:port browsers are told to use. Empty means the
	// Host the PAC file was requested with.
	Proxy string
	// Direct are hosts reached without the proxy: exact names, or
	// "*.suffix" for every name under suffix.
	Direct []string
}

// DefaultRemoveHeaders are the fields a forward proxy removes by default:
// those that tell the destination who the client is or which proxies the
// request went through (RFC 7239 Forwarded, its de-facto X-Forwarded-For,
// RFC 9110 §7.6.3 Via, §10.1.2 From).
func DefaultRemoveHeaders() []string {
	return []string{"X-Forwarded-For", "Forwarded", "Via", "From", "X-Real-IP"}
}

// DefaultHTTPPorts are the ports absolute-form requests may reach by
// default: Squid's Safe_ports less the ones it lists for its other
// schemes (21 ftp, 70 gopher, 210 wais). edged sends HTTP to whatever port
// it is asked for, so a port of another protocol below 1024 (25 SMTP, 110
// POP3, 143 IMAP, 21 FTP...) would receive a client's HTTP request, body
// and all: the cross-protocol attack (a POST whose body is SMTP commands)
// the list is there to stop. 80, 443 and Squid's HTTP-based 280
// (http-mgmt), 488 (gss-http), 591 (FileMaker) and 777 (multiling-http)
// stay open, and so does every unprivileged port.
func DefaultHTTPPorts() []string {
	return []string{"80", "443", "280", "488", "591", "777", "1025-65535"}
}

// DefaultConnectPorts are the ports CONNECT may reach by default: https.
func DefaultConnectPorts() []string { return []string{"443"} }

// Rules decide whether a client may reach a destination; *rules.Engine
// (edge/forward/rules) implements it.
type Rules interface {
	// Decide answers one request or tunnel; now is the rules' clock.
	Decide(req RuleRequest, now time.Time) RuleDecision
	// NeedsAddrFor reports whether Decide's answer for req would depend on
	// RuleRequest.Addr, so that the proxy resolves the host first.
	NeedsAddrFor(req RuleRequest, now time.Time) bool
}

// LiveRules are Rules a reload may replace while the proxy serves (a
// node's forward.rules). Current returns those in force: the proxy takes
// them once per request and asks them every question about it.
type LiveRules interface {
	Rules
	Current() Rules
}

// Defaults of Options and DialerOptions.
const (
	DefaultTunnelIdle  = 5 * time.Minute
	DefaultTunnelMax   = time.Hour
	DefaultDialTimeout = 10 * time.Second

	defaultName           = "edged-forward"
	defaultTunnelsPerConn = 64
)

// DefaultOptions are the values New gives zero fields (Cache, Dialer and
// the rest that have no default stay zero).
func DefaultOptions() Options {
	return Options{}.withDefaults()
}

// withDefaults gives the zero fields their defaults.
func (opts Options) withDefaults() Options {
	if opts.Name == "" {
		opts.Name = defaultName
	}
	if opts.ConnectPorts == nil {
		opts.ConnectPorts = DefaultConnectPorts()
	}
	if opts.HTTPPorts == nil {
		opts.HTTPPorts = DefaultHTTPPorts()
	}
	if opts.RemoveHeaders == nil {
		opts.RemoveHeaders = DefaultRemoveHeaders()
	}
	if opts.Realm == "" {
		opts.Realm = "edged"
	}
	if opts.TunnelIdle == 0 {
		opts.TunnelIdle = DefaultTunnelIdle
	}
	if opts.TunnelMax == 0 {
		opts.TunnelMax = DefaultTunnelMax
	}
	if opts.MaxTunnelsPerClient == 0 {
		opts.MaxTunnelsPerClient = defaultTunnelsPerConn
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return opts
}

// OptionError is a bad field of Options, named by its Go path
// ("ConnectPorts[1]", "PAC.Direct[0]").
type OptionError struct{ Field, Msg string }

func (e *OptionError) Error() string { return "forward: option " + e.Field + ": " + e.Msg }

// Validate checks every configurable field as given (Cache and Dialer,
// which are wiring, are New's to check) and reports every problem, each an
// *OptionError, joined.
func (opts Options) Validate() error {
	_, err := opts.validate()
	return err
}

// portSets are ConnectPorts and HTTPPorts parsed.
type portSets struct{ connect, http portset.Set }

// validate is Validate, and returns the port lists it parsed for New.
func (opts Options) validate() (portSets, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &OptionError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	parse := func(field string, list []string) portset.Set {
		return portset.ParseList(list, func(i int, err error) { bad(fmt.Sprintf("%s[%d]", field, i), "%v", err) })
	}
	parsed := portSets{connect: parse("ConnectPorts", opts.ConnectPorts), http: parse("HTTPPorts", opts.HTTPPorts)}
	for i, name := range opts.RemoveHeaders {
		if !httpguts.ValidHeaderFieldName(name) {
			bad(fmt.Sprintf("RemoveHeaders[%d]", i), "%q is not a field name", name)
		}
	}
	for name, v := range opts.SetHeaders {
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(v) {
			bad("SetHeaders["+strconv.Quote(name)+"]", "%q: %q is not a valid field", name, v)
		}
	}
	if opts.TunnelIdle <= 0 {
		bad("TunnelIdle", "must be positive, got %v", opts.TunnelIdle)
	}
	if opts.TunnelMax <= 0 {
		bad("TunnelMax", "must be positive, got %v", opts.TunnelMax)
	}
	if opts.MaxTunnelsPerClient < 1 && !opts.NoTunnelLimit {
		bad("MaxTunnelsPerClient", "must be at least 1 (NoTunnelLimit turns the limit off), got %d", opts.MaxTunnelsPerClient)
	}
	if opts.Realm == "" || strings.ContainsAny(opts.Realm, "\"\\\r\n") {
		bad("Realm", "%q: not empty; no quotes, backslashes or line breaks", opts.Realm)
	}
	for i, h := range opts.PAC.Direct {
		if !validPACHost(h) {
			bad(fmt.Sprintf("PAC.Direct[%d]", i), "want a host name or *.suffix, got %q", h)
		}
	}
	return parsed, errors.Join(errs...)
}

// validPACHost accepts a DNS name or "*.name", the forms the PAC file
// writes as JavaScript strings.
func validPACHost(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		b := h[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_') {
			return false
		}
	}
	return true
}
