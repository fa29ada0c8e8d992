package forward

import (
	"net/http"

	"edged/internal/portset"
)

// Settings are the parts of Options that a running Proxy can take anew
// (Reconfigure), validated and compiled: Clients, ConnectPorts, HTTPPorts,
// RemoveHeaders, SetHeaders, Users, Realm, TunnelIdle, TunnelMax,
// MaxTunnelsPerClient, NoTunnelLimit and PAC. The wiring (Name, Cache,
// Dialer, Rules, Logger, AccessLog, Registerer, Now) is New's and stays.
//
// A request or tunnel reads the Settings in force when it arrived, once,
// and keeps them to its end: a tunnel open across a reconfiguration keeps
// its idle and total limits, as Squid's reconfigure keeps its tunnels.
type Settings struct {
	opts         Options           // with defaults
	nets         []string          // Options.Clients as metric labels ("loopback" for none), by index
	remove       []string          // canonical names of Options.RemoveHeaders
	set          map[string]string // Options.SetHeaders under canonical names
	connectPorts portset.Set       // Options.ConnectPorts
	httpPorts    portset.Set       // Options.HTTPPorts
	// plain are the requests children without a category, by network
	// index (the last: not admitted), kind and outcome (metrics.count).
	plain [][2][nOutcomes]counterSlot
}

// Prepare gives zero fields their defaults and validates opts's settings
// (every problem, each an *OptionError, joined), for New or Reconfigure.
func Prepare(opts Options) (*Settings, error) {
	opts = opts.withDefaults()
	ports, err := opts.validate()
	if err != nil {
		return nil, err
	}
	s := &Settings{opts: opts, nets: []string{"loopback"}, connectPorts: ports.connect, httpPorts: ports.http}
	if len(opts.Clients) > 0 {
		s.nets = make([]string, len(opts.Clients))
		for i, n := range opts.Clients {
			s.nets[i] = n.String()
		}
	}
	s.plain = make([][2][nOutcomes]counterSlot, len(s.nets)+1)
	for _, name := range opts.RemoveHeaders {
		s.remove = append(s.remove, http.CanonicalHeaderKey(name))
	}
	s.set = make(map[string]string, len(opts.SetHeaders))
	for name, v := range opts.SetHeaders {
		s.set[http.CanonicalHeaderKey(name)] = v
	}
	return s, nil
}

// Reconfigure makes s the proxy's settings for every request and tunnel
// that starts from now on (a reload). Those under way finish with the
// settings they started with: an open tunnel is not cut, whatever s says
// of its client, user, port or limits. Tunnels already open count
// against s's MaxTunnelsPerClient.
func (p *Proxy) Reconfigure(s *Settings) { p.cur.Store(s) }
