package config

import (
	"strings"

	"edged/edge"
)

// WebSocket lets a route carry WebSocket connections (HTTP/1.1 Upgrade,
// RFC 6455). Off unless enabled: an upgrade then goes upstream as a plain
// request without its Upgrade.
type WebSocket struct {
	// Enabled forwards WebSocket handshakes, after the route's access
	// rules, rate limit and auth, and relays the connection once the
	// upstream switched protocols. Nothing of it is cached.
	Enabled bool `yaml:"enabled"`
	// IdleTimeout closes a connection quiet both ways for this long; 0
	// means 60s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxPerClient caps the connections one client address has open on
	// the route (429 past it); 0 means 16.
	MaxPerClient int `yaml:"max_per_client"`
	// MaxDuration ends a connection this long after it opened, however
	// busy, with a close frame (status 1001) to both sides; unset means
	// 2h, 0 means no limit.
	MaxDuration *Duration `yaml:"max_duration"`
}

// Transform converts the route's response bodies.
type Transform struct {
	// JSONToXML answers JSON as XML to clients whose Accept prefers XML.
	JSONToXML bool `yaml:"json_to_xml"`
	// MaxBody is the largest body converted; larger ones, and streamed
	// ones, pass untouched. 0 means 1MiB.
	MaxBody ByteSize `yaml:"max_body"`
}

// checkProtocols validates a route's websocket, transform, path pattern and
// upstream_path.
func (c *Config) checkProtocols(path string, s Site, r Route) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path+"."+field, format, args...))
	}
	ws := r.WebSocket
	if ws.IdleTimeout < 0 {
		add("websocket.idle_timeout", "must not be negative, got %s", ws.IdleTimeout)
	}
	if ws.MaxPerClient < 0 {
		add("websocket.max_per_client", "must not be negative, got %d", ws.MaxPerClient)
	}
	// 0 reads as the default in these two (the zero value of the Go
	// field), where elsewhere 0 means no limit (max_duration here,
	// forward.tunnels.max_per_client): a 0 written in the file would
	// silently be 60s or 16, so it is refused.
	if ws.IdleTimeout == 0 && c.written(path+".websocket.idle_timeout") {
		add("websocket.idle_timeout", "0 is not a timeout: leave it out for 60s, or give one (30s, 5m); there is no unlimited idle time")
	}
	if ws.MaxPerClient == 0 && c.written(path+".websocket.max_per_client") {
		add("websocket.max_per_client", "0 is not a limit here: leave it out for 16, or give how many connections one client may open")
	}
	if ws.MaxDuration != nil && *ws.MaxDuration < 0 {
		add("websocket.max_duration", "must not be negative (0 means no limit), got %s", *ws.MaxDuration)
	}
	if !ws.Enabled && (ws.IdleTimeout != 0 || ws.MaxPerClient != 0 || ws.MaxDuration != nil) {
		add("websocket.enabled", "websocket settings have no effect without enabled: true")
	}
	if r.Transform.MaxBody != 0 && !r.Transform.JSONToXML {
		add("transform.max_body", "has no effect without transform.json_to_xml: true")
	}
	var pattern *edge.PathPattern
	if strings.ContainsAny(r.Path, "{}") {
		p, err := edge.ParsePathPattern(r.Path)
		if err != nil {
			add("path", "invalid path pattern: %v", err)
		}
		pattern = p
	}
	if pattern != nil {
		for k, o := range s.Routes {
			if o.Path != r.Path && routePrefix(o.Path) == pattern.Prefix() {
				add("path", "pattern %q is routed by its literal prefix %q, which routes[%d] (%q) has too: give them different prefixes", r.Path, pattern.Prefix(), k, o.Path)
				break
			}
		}
	}
	if r.UpstreamPath == "" {
		return errs
	}
	switch {
	case pattern == nil:
		add("upstream_path", "needs a path with {captures} (e.g. path: /v1/users/{id}, upstream_path: /users/{id})")
	case r.StripPrefix:
		add("upstream_path", "conflicts with strip_prefix: upstream_path gives the whole upstream path")
	case !strings.HasPrefix(r.UpstreamPath, "/") || strings.ContainsAny(r.UpstreamPath, "?# \t\r\n\x00"):
		add("upstream_path", "must start with / and have no query, fragment, space or control character, got %q", r.UpstreamPath)
	default:
		if err := pattern.CheckTemplate(r.UpstreamPath); err != nil {
			add("upstream_path", "%v", err)
		}
	}
	return errs
}

// routePrefix is the path prefix a route is chosen by: its path, or the
// literal part of a path pattern.
func routePrefix(path string) string {
	if strings.ContainsAny(path, "{}") {
		if p, err := edge.ParsePathPattern(path); err == nil {
			return p.Prefix()
		}
	}
	return path
}

// addProtocols sets what a route's protocol settings ask of er. A bad path
// pattern is left for checkProtocols to report: er keeps its path.
func addProtocols(r Route, er *edge.Route) {
	if r.WebSocket.Enabled {
		er.WebSocket = &edge.WebSocket{IdleTimeout: r.WebSocket.IdleTimeout.Std(), MaxPerClient: r.WebSocket.MaxPerClient}
		switch d := r.WebSocket.MaxDuration; {
		case d == nil: // edge's default
		case *d == 0:
			er.WebSocket.MaxDuration = -1 // the file's 0 is no limit
		default:
			er.WebSocket.MaxDuration = d.Std()
		}
	}
	if r.Transform.JSONToXML {
		er.Transform = &edge.Transform{JSONToXML: true, MaxBody: int64(r.Transform.MaxBody)}
	}
	if strings.ContainsAny(r.Path, "{}") {
		if p, err := edge.ParsePathPattern(r.Path); err == nil {
			er.PathPrefix, er.Pattern, er.UpstreamPath = p.Prefix(), p, r.UpstreamPath
		}
	}
}

// written reports whether the file sets the field at path to a value
// (null is no setting).
func (c *Config) written(path string) bool {
	n := lookup(c.root, path)
	return n != nil && n.ShortTag() != "!!null"
}
