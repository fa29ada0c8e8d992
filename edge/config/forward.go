package config

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"edged/edge/auth/htpasswd"
	"edged/edge/forward"
	"edged/edge/forward/rules"
)

// RoleForward is a forward proxy for a private network's clients
// (docs/forward.md): absolute-form requests through the cache, CONNECT
// tunnels, access rules.
const RoleForward = "forward"

// Forward configures the forward role (role: forward); other roles ignore
// it. docs/forward.md describes each field.
type Forward struct {
	// Clients are the admitted client networks (CIDR or addresses). Empty
	// admits loopback clients only: never an open proxy by accident.
	Clients []string `yaml:"clients"`
	// ConnectPorts are the ports CONNECT may reach: ports (443) and
	// ranges ("8000-8999"); default [443].
	ConnectPorts []string `yaml:"connect_ports"`
	// HTTPPorts are the ports absolute-form requests may reach, written
	// as ConnectPorts are; default forward.DefaultHTTPPorts (80, 443, 280,
	// 488, 591, 777, 1025-65535: Squid's Safe_ports less ftp, gopher, wais).
	HTTPPorts []string `yaml:"http_ports"`
	// Via adds this proxy's "Via: 1.1 <name>" to requests and responses;
	// false hides the proxy from destinations. Default true.
	Via bool `yaml:"via"`
	// RemoveHeaders are the request fields removed before a request is
	// passed on; default forward.DefaultRemoveHeaders (X-Forwarded-For,
	// Forwarded, Via, From, X-Real-IP), also for null. An empty list
	// removes none.
	RemoveHeaders []string `yaml:"remove_headers"`
	// SetHeaders replace or add request fields (name: value).
	SetHeaders map[string]string `yaml:"set_headers"`
	Auth       ForwardAuth       `yaml:"auth"`
	Tunnels    ForwardTunnels    `yaml:"tunnels"`
	Dial       ForwardDial       `yaml:"dial"`
	PAC        ForwardPAC        `yaml:"pac"`
	// Rules are the access rules and per-client limits
	// (docs/forward-rules.md); the zero value allows everything.
	Rules rules.Options `yaml:"rules"`
}

// ForwardAuth configures proxy authentication (Proxy-Authorization: Basic).
type ForwardAuth struct {
	// Htpasswd is a file of "user:bcrypt-hash" lines (htpasswd -B); empty
	// means no authentication.
	Htpasswd string `yaml:"htpasswd"`
	// Realm is the Basic realm; default "edged".
	Realm string `yaml:"realm"`
}

// ForwardTunnels bounds CONNECT tunnels.
type ForwardTunnels struct {
	IdleTimeout  Duration `yaml:"idle_timeout"`   // default 5m
	MaxDuration  Duration `yaml:"max_duration"`   // default 1h
	MaxPerClient int      `yaml:"max_per_client"` // default 64
}

// ForwardDial configures the connections to destinations.
type ForwardDial struct {
	// Timeout bounds a connect; default 10s.
	Timeout Duration `yaml:"timeout"`
	// AllowNetworks are destinations reached although they are loopback,
	// private, link-local or metadata addresses (refused otherwise).
	AllowNetworks []string `yaml:"allow_networks"`
}

// ForwardPAC configures /proxy.pac.
type ForwardPAC struct {
	// Proxy is the host:port browsers are told to use; empty means the
	// Host the file is fetched with.
	Proxy string `yaml:"proxy"`
	// Direct are hosts reached without the proxy ("intranet",
	// "*.corp.example").
	Direct []string `yaml:"direct"`
}

// defaultForward is the forward section's defaults: forward's own.
func defaultForward() Forward {
	fo := forward.DefaultOptions()
	return Forward{
		ConnectPorts:  fo.ConnectPorts,
		HTTPPorts:     fo.HTTPPorts,
		Via:           true,
		RemoveHeaders: fo.RemoveHeaders,
		Auth:          ForwardAuth{Realm: fo.Realm},
		Tunnels:       ForwardTunnels{IdleTimeout: Duration(fo.TunnelIdle), MaxDuration: Duration(fo.TunnelMax), MaxPerClient: fo.MaxTunnelsPerClient},
		Dial:          ForwardDial{Timeout: Duration(forward.DefaultDialTimeout)},
	}
}

// checkForward checks the forward section; only in the forward role.
func (c *Config) checkForward() []*FieldError {
	if c.Role != RoleForward {
		// The section is read only by the forward role: a file that sets
		// it on an edge or a shield (role left at its default, say) would
		// otherwise start a reverse proxy whose operator believes it admits
		// only forward.clients.
		if n := lookup(c.root, "forward"); n != nil && n.ShortTag() != "!!null" {
			return []*FieldError{c.fieldErr("forward", "read only by role forward, and role is %s: set role: forward (or -role forward), or remove the section", c.Role)}
		}
		return nil
	}
	f := c.Forward
	var errs []*FieldError
	add := func(path, format string, args ...any) { errs = append(errs, c.fieldErr(path, format, args...)) }
	// Fields of the reverse roles that a forward proxy would silently
	// ignore are errors, so that nobody believes they apply.
	if c.TLS.Listen != "" {
		add("tls.listen", "not served by role forward (clients reach https through CONNECT): remove it (or the -tls-listen flag)")
	}
	if len(c.Sites) > 0 {
		add("sites", "not used by role forward (its destinations are what clients ask for)")
	}
	// The forward proxy fetches from the host each request names
	// (openForwardUpstream drops both): an origin or shields set here
	// would be ignored without a word.
	if c.Upstream.Origin != "" {
		add("upstream.origin", "not used by role forward (it fetches from the host each request names): remove it (or the -origin flag)")
	}
	if len(c.Upstream.Shields) > 0 {
		add("upstream.shields", "not used by role forward (it fetches from the host each request names): remove them (or the -shield flags)")
	}
	if c.Upstream.TLS != (UpstreamTLS{}) {
		// Its client makes no TLS connection: https goes through CONNECT
		// tunnels, end to end between the client and the destination.
		add("upstream.tls", "not used by role forward (https destinations are reached through CONNECT tunnels, whose TLS is the client's own): remove it")
	}
	for i, n := range f.Clients {
		if _, err := ParseNetwork(n); err != nil {
			add(fmt.Sprintf("forward.clients[%d]", i), "%v", err)
		}
	}
	for i, n := range f.Dial.AllowNetworks {
		if _, err := ParseNetwork(n); err != nil {
			add(fmt.Sprintf("forward.dial.allow_networks[%d]", i), "%v", err)
		}
	}
	if f.Dial.Timeout <= 0 {
		add("forward.dial.timeout", "must be positive, got %s", f.Dial.Timeout)
	}
	if f.Tunnels.MaxPerClient < 0 {
		add("forward.tunnels.max_per_client", "must not be negative (0 means no limit), got %d", f.Tunnels.MaxPerClient)
	}
	for _, e := range c.forwardOptionProblems(c.ForwardOptions().Validate()) {
		// A field checked above in the file's terms (max_per_client's 0
		// means no limit here, the default in forward.Options) is not
		// reported twice, the second time in Go's terms.
		if !slices.ContainsFunc(errs, func(v *FieldError) bool { return v.Field == e.Field }) {
			errs = append(errs, e)
		}
	}
	if f.PAC.Proxy != "" {
		if e := c.checkAddr("forward.pac.proxy", f.PAC.Proxy, false); e != nil {
			errs = append(errs, e)
		}
	}
	errs = append(errs, c.rulesProblems(f.Rules.Validate())...)
	errs = append(errs, c.forwardIdentityProblems()...)
	return errs
}

// forwardIdentityProblems refuses rule conditions on users and groups
// that no request can meet: without forward.auth.htpasswd no request has a
// user, and edged's proxy knows no groups but forward.rules.groups (the
// rules package also takes groups from the proxy, which edged's never
// gives). Such a rule never matches, so a deny rule for a user or a group
// with a misspelt name would be in the file and never enforced.
func (c *Config) forwardIdentityProblems() []*FieldError {
	f := c.Forward
	var errs []*FieldError
	for i, r := range f.Rules.List {
		field := fmt.Sprintf("forward.rules.list[%d]", i)
		if f.Auth.Htpasswd == "" {
			if len(r.Users) > 0 {
				errs = append(errs, c.fieldErr(field+".users", "needs forward.auth.htpasswd: without it no request has a user, and this rule never matches"))
			}
			if len(r.Groups) > 0 {
				errs = append(errs, c.fieldErr(field+".groups", "needs forward.auth.htpasswd: without it no request has a user, and this rule never matches"))
			}
		}
		for j, g := range r.Groups {
			if _, ok := f.Rules.Groups[g]; !ok && g != "" {
				errs = append(errs, c.fieldErr(fmt.Sprintf("%s.groups[%d]", field, j), "%q is not defined under forward.rules.groups", g))
			}
		}
	}
	return errs
}

// forwardFields maps the Go paths of forward.Options to the section's
// YAML fields; an index or key that follows is kept.
var forwardFields = map[string]string{
	"ConnectPorts": "connect_ports", "HTTPPorts": "http_ports", "RemoveHeaders": "remove_headers", "SetHeaders": "set_headers",
	"TunnelIdle": "tunnels.idle_timeout", "TunnelMax": "tunnels.max_duration",
	"MaxTunnelsPerClient": "tunnels.max_per_client", "Realm": "auth.realm", "PAC.Direct": "pac.direct",
}

// forwardOptionProblems places forward.Options.Validate's errors at the
// fields of the forward section that set them.
func (c *Config) forwardOptionProblems(err error) []*FieldError {
	var out []*FieldError
	for _, e := range joinedErrors(err) {
		var oe *forward.OptionError
		if !errors.As(e, &oe) {
			out = append(out, c.fieldErrNear("forward", "%v", e))
			continue
		}
		name, rest := oe.Field, ""
		if i := strings.IndexByte(name, '['); i >= 0 {
			name, rest = name[:i], name[i:]
		}
		path := "forward." + forwardFields[name]
		if key, ok := strings.CutPrefix(rest, `["`); ok { // a map key: .key
			rest = "." + strings.TrimSuffix(key, `"]`)
		}
		out = append(out, c.fieldErrNear(path+rest, "%s", oe.Msg))
	}
	return out
}

// joinedErrors splits an errors.Join result into its errors.
func joinedErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// forwardFileProblems loads the files the forward section names: the
// htpasswd file and the rules' category lists.
func (c *Config) forwardFileProblems() []*FieldError {
	if c.Role != RoleForward {
		return nil
	}
	errs := c.rulesProblems(c.Forward.Rules.Check())
	c.users = nil
	users, err := c.loadForwardUsers()
	if err != nil {
		return append(errs, err)
	}
	c.users = &loadedUsers{users}
	return errs
}

// rulesProblems turns the rules package's errors, which name fields
// relative to the rules section, into FieldErrors with their lines.
func (c *Config) rulesProblems(err error) []*FieldError {
	if err == nil {
		return nil
	}
	var es rules.Errors
	if !errors.As(err, &es) {
		return []*FieldError{c.fieldErrNear("forward.rules", "%v", err)}
	}
	out := make([]*FieldError, 0, len(es))
	for _, fe := range es {
		out = append(out, c.fieldErrNear("forward.rules."+fe.Field, "%s", fe.Msg))
	}
	return out
}

// ForwardRules builds the access rules engine of forward.rules (it reads
// the category lists and watches them until Close). Errors are
// *FieldErrors, joined.
func (c *Config) ForwardRules(log *slog.Logger) (*rules.Engine, error) {
	e, err := rules.New(c.Forward.Rules, log)
	if err != nil {
		return nil, joinSorted(c.rulesProblems(err))
	}
	return e, nil
}

// loadedUsers are the users of forward.auth.htpasswd as Check read them;
// nil users without the field.
type loadedUsers struct{ users *forward.Users }

// ForwardUsers are the users of forward.auth.htpasswd; nil without it. A
// configuration that passed Check (every start and reload) returns the
// users Check read, so the file is read once, and the users used are
// those that were checked; otherwise it reads the file. The error is a
// *FieldError naming the field.
func (c *Config) ForwardUsers() (*forward.Users, error) {
	if c.users != nil {
		return c.users.users, nil
	}
	u, err := c.loadForwardUsers()
	if err != nil {
		return nil, err
	}
	return u, nil
}

// loadForwardUsers reads forward.auth.htpasswd.
func (c *Config) loadForwardUsers() (*forward.Users, *FieldError) {
	if c.Forward.Auth.Htpasswd == "" {
		return nil, nil
	}
	u, err := htpasswd.Load(c.Forward.Auth.Htpasswd)
	if err != nil {
		return nil, c.fieldErr("forward.auth.htpasswd", "%v", err)
	}
	return u, nil
}

// ForwardOptions are the forward proxy's options from the validated
// forward section, without Cache, Rules, Users, loggers or Registerer,
// which the binary wires.
func (c *Config) ForwardOptions() forward.Options {
	f := c.Forward
	return forward.Options{
		Name:                c.CacheName(),
		Clients:             parseNetworks(f.Clients),
		ConnectPorts:        slices.Clone(f.ConnectPorts), // nil (the field given as null): forward's default
		HTTPPorts:           slices.Clone(f.HTTPPorts),
		RemoveHeaders:       slices.Clone(f.RemoveHeaders), // nil (null) too: the default list
		SetHeaders:          f.SetHeaders,
		Realm:               f.Auth.Realm,
		TunnelIdle:          f.Tunnels.IdleTimeout.Std(),
		TunnelMax:           f.Tunnels.MaxDuration.Std(),
		MaxTunnelsPerClient: f.Tunnels.MaxPerClient,
		NoTunnelLimit:       f.Tunnels.MaxPerClient == 0, // the file's 0 is "no limit"
		PAC:                 forward.PAC{Proxy: f.PAC.Proxy, Direct: append([]string(nil), f.PAC.Direct...)},
	}
}

// ForwardDialer is the options of the forward proxy's Dialer.
func (c *Config) ForwardDialer() forward.DialerOptions {
	return forward.DialerOptions{Timeout: c.Forward.Dial.Timeout.Std(), Allow: parseNetworks(c.Forward.Dial.AllowNetworks)}
}

// ForwardClientsDefault reports whether the proxy admits loopback clients
// only because forward.clients is empty (startup says so).
func (c *Config) ForwardClientsDefault() bool { return len(c.Forward.Clients) == 0 }
