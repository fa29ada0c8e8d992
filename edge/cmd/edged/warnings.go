package main

import (
	"fmt"
	"strings"
	"syscall"

	"edged/edge/config"
)

// startWarning is one thing a start warns of about what its configuration
// (and the secrets in its environment) asks for: start logs it at WARN,
// and -t prints it, so that a configuration test shows every warning a
// start would.
type startWarning struct {
	msg   string
	attrs []any // slog key-value pairs
}

// String is the warning as -t prints it: the message, then key=value.
func (w startWarning) String() string {
	var b strings.Builder
	b.WriteString(w.msg)
	for i := 0; i+1 < len(w.attrs); i += 2 {
		fmt.Fprintf(&b, " %v=%v", w.attrs[i], w.attrs[i+1])
	}
	return b.String()
}

// startWarnings are the warnings start logs before it opens anything, all
// decided by cfg: the configuration's own (config.Config.Warnings), the
// purge token, a purge bus private to a node of a tier, ACME certificates
// kept where no other node sees them, the forward proxy's admitted
// clients, and pools no route uses. The purge bus logs its own when it
// starts (purge.Options.Warnings) and the ACME setup one that needs the
// certificates (acmeCoveredWarning); -t prints those too.
func startWarnings(cfg *config.Config) []startWarning {
	var out []startWarning
	for _, w := range cfg.Warnings() {
		out = append(out, startWarning{msg: "configuration: " + w.Error()})
	}
	switch token := purgeTokenOf(cfg); {
	case token == "":
		out = append(out, startWarning{msg: "purge API disabled: set purge.token or EDGED_PURGE_TOKEN"})
	case guessableToken(token, cfg.Admin):
		out = append(out, startWarning{msg: fmt.Sprintf("purge token is shorter than %d characters and the admin listener is not loopback-only: "+
			"anyone who reaches it, or reads the purge bus, can guess the token offline; use a random one (openssl rand -hex 32)", minPurgeTokenLen),
			attrs: []any{"admin", cfg.Admin}})
	}
	if w, ok := privateBusWarning(cfg); ok {
		out = append(out, w)
	}
	if s := cfg.ACMESettings(); s.Enabled && s.Storage == config.ACMEStorageNATS && inProcessNATS(cfg) {
		out = append(out, startWarning{msg: "tls.acme.storage: nats, but this node's NATS is in-process only: no other node shares its certificates; " +
			"set purge.nats.listen here and purge.nats.url on the others"})
	}
	out = append(out, forwardWarnings(cfg)...)
	for _, name := range cfg.UnusedPools() {
		out = append(out, startWarning{msg: "pool not used by any route; not started", attrs: []any{"pool", name}})
	}
	return out
}

// forwardWarnings are the forward role's: a proxy that admits loopback
// clients only because forward.clients is empty, an open proxy, and one
// whose tunnels would run out of file descriptors before they reach
// server.max_connections.
func forwardWarnings(cfg *config.Config) []startWarning {
	if cfg.Role != config.RoleForward {
		return nil
	}
	var out []startWarning
	if cfg.ForwardClientsDefault() {
		out = append(out, startWarning{msg: "forward proxy admits loopback clients only: forward.clients is empty (list the client networks to admit)"})
	}
	// 0.0.0.0/0 is what one writes to make a refusal go away; without
	// proxy authentication it makes an open proxy, which abusers find
	// and use, so the start says so as loudly as the loopback default.
	if cfg.Forward.Auth.Htpasswd == "" {
		for _, p := range cfg.ForwardOptions().Clients {
			if p.Bits() == 0 {
				out = append(out, startWarning{msg: "forward proxy is open: forward.clients admits every address and forward.auth.htpasswd is unset, so anyone who reaches the listener can use it (list the client networks, or require a password)",
					attrs: []any{"network", p.String()}})
				break
			}
		}
	}
	if need, have := forwardFiles(cfg), openFilesLimit(); have > 0 && need > have {
		out = append(out, startWarning{msg: "forward proxy: server.max_connections tunnels need more file descriptors than the process may open (a spliced tunnel takes 6: the client's socket, the destination's, and a pipe of two each way); past the limit accepting clients and dialing destinations fail: raise the limit (ulimit -n, systemd LimitNOFILE) or lower server.max_connections",
			attrs: []any{"max_connections", cfg.MaxConnections(), "files_needed", need, "files_limit", have}})
	}
	return out
}

// forwardFiles is how many file descriptors a forward proxy holding
// server.max_connections spliced tunnels has open (measured through the
// binary: 6 a tunnel), and some for its listeners, store and bus.
func forwardFiles(cfg *config.Config) uint64 {
	return 6*uint64(cfg.MaxConnections()) + 64
}

// openFilesLimit is the process's limit on open files (the soft one,
// which Go raises to the hard one at start), or 0 when unknown.
func openFilesLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return rl.Cur
}

// checkWarnings are what -t prints: every warning a start of cfg would
// log about its configuration, including the purge bus's own and the one
// of tls.acme that needs the certificates read.
func checkWarnings(cfg *config.Config) []string {
	var out []string
	for _, w := range startWarnings(cfg) {
		out = append(out, w.String())
	}
	if opts, err := purgeOptions(cfg); err == nil {
		out = append(out, opts.Warnings()...)
	}
	if cfg.ACMESettings().Enabled {
		covers := func(string) bool { return false }
		if cfg.TLS.Listen != "" {
			if cs, err := newCertStore(cfg.LoadCertificates, true); err == nil {
				covers = cs.covers
			}
		}
		if len(acmeHosts(cfg, covers)) == 0 {
			out = append(out, acmeCoveredWarning)
		}
	}
	return out
}
