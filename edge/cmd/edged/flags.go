package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"edged/edge/config"
)

// flagValues are the command line; a flag that was not given leaves the
// file's value (or the default) in place.
type flagValues struct {
	config     string
	listen     string
	tlsListen  string
	admin      string
	data       string
	origin     string
	shield     stringList
	role       string
	name       string
	nats       stringList
	natsListen string
	version    bool // -version: print the build and exit
	check      bool // -t: check the configuration and exit
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func newFlagSet(v *flagValues) *flag.FlagSet {
	fs := flag.NewFlagSet("edged", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints errors and usage itself
	fs.StringVar(&v.config, "config", "", "YAML configuration `file` (docs/config.md); none means the defaults")
	fs.StringVar(&v.listen, "listen", "", "public `address` (config: listen; default 127.0.0.1:8080)")
	fs.StringVar(&v.tlsListen, "tls-listen", "", "HTTPS `address`; needs tls.certificates in the -config file (config: tls.listen)")
	fs.StringVar(&v.admin, "admin", "", "admin `address` for /metrics and /healthz (config: admin; default 127.0.0.1:8081)")
	fs.StringVar(&v.data, "data", "", "data `directory` holding the disk cache (config: data; default ./data)")
	fs.StringVar(&v.origin, "origin", "", "origin base `URL` (config: upstream.origin)")
	fs.Var(&v.shield, "shield", "shield base `URL` to fetch misses through; repeatable (config: upstream.shields)")
	fs.StringVar(&v.role, "role", "", "node role: edge, shield or forward (config: role; default edge)")
	fs.StringVar(&v.name, "name", "", "cache `name` in Cache-Status and Via (config: name)")
	fs.Var(&v.nats, "nats", "NATS `URL` of the fleet's purge bus (another node's -nats-listen, or a server of a NATS cluster: repeat it, or separate with commas, for several); none runs NATS in-process, private to this node; token from $EDGED_NATS_TOKEN (config: purge.nats.url, purge.nats.urls)")
	fs.BoolVar(&v.version, "version", false, "print the version, Go version and VCS revision, and exit")
	fs.BoolVar(&v.check, "t", false, "check the configuration (-config and the other flags, and the files they name), print every problem, and exit")
	fs.StringVar(&v.natsListen, "nats-listen", "", "`address` where the in-process NATS accepts other nodes; needs a token in $EDGED_NATS_TOKEN (config: purge.nats.listen)")
	return fs
}

// parseArgs reads the command line (without the program name): it loads
// -config if given, applies the other flags over it and checks the result,
// the files it names included.
func parseArgs(args []string) (*config.Config, error) {
	cfg, _, err := parseCommand(args)
	return cfg, err
}

// parseCommand is parseArgs that also returns the flag values, so run can
// tell -version and -t from serving. With -version nothing else is read:
// it must answer even where the configuration is broken.
func parseCommand(args []string) (*config.Config, flagValues, error) {
	var v flagValues
	fs := newFlagSet(&v)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, v, err
		}
		return nil, v, fmt.Errorf("%w (run edged -h for usage)", err)
	}
	if fs.NArg() > 0 {
		return nil, v, fmt.Errorf("unexpected argument %q (run edged -h for usage)", fs.Arg(0))
	}
	if v.version {
		return nil, v, nil
	}
	cfg, err := loadConfig(fs, &v)
	return cfg, v, err
}

// loadConfig reads -config, applies the given flags over it and checks the
// whole: every problem of the file and of the files it names, in one error.
func loadConfig(fs *flag.FlagSet, v *flagValues) (*config.Config, error) {
	cfg := config.Default()
	if v.config != "" {
		var err error
		// A file with bad fields still yields a Config: Check reports
		// those problems again with every other one, in one run.
		if cfg, err = config.Load(v.config); cfg == nil {
			return nil, err
		}
	}
	fs.Visit(func(f *flag.Flag) { applyFlag(cfg, v, f.Name) })
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// applyFlag copies one given flag into cfg and marks the field as set from
// outside the file, so errors about it do not point into the file.
func applyFlag(cfg *config.Config, v *flagValues, name string) {
	field := map[string]string{
		"listen": "listen", "tls-listen": "tls.listen", "admin": "admin", "data": "data", "role": "role", "name": "name",
		"origin": "upstream.origin", "shield": "upstream.shields",
		"nats": "purge.nats.url", "nats-listen": "purge.nats.listen",
	}[name]
	switch name {
	case "listen":
		cfg.Listen = v.listen
	case "tls-listen":
		cfg.TLS.Listen = v.tlsListen
	case "admin":
		cfg.Admin = v.admin
	case "data":
		cfg.Data = v.data
	case "origin":
		cfg.Upstream.Origin = v.origin
	case "shield":
		cfg.Upstream.Shields = append([]string(nil), v.shield...)
		for i := range v.shield {
			cfg.Override(fmt.Sprintf("upstream.shields[%d]", i))
		}
	case "role":
		cfg.Role = v.role
	case "name":
		cfg.Name = v.name
	case "nats":
		// The flags replace the file's servers, in either field.
		cfg.Purge.NATS.URL, cfg.Purge.NATS.URLs = strings.Join(v.nats, ","), nil
	case "nats-listen":
		cfg.Purge.NATS.Listen = v.natsListen
	default:
		return
	}
	cfg.Override(field)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: edged [flags]

edged is a caching CDN edge node (-role edge, the default), an origin
shield (-role shield) or a forward proxy for a private network's clients
(-role forward). It runs from a YAML file (-config) and/or flags; flags
override the file. See docs/config.md and docs/forward.md.

Example:
  edged -origin http://127.0.0.1:9000 -listen 127.0.0.1:8080 -admin 127.0.0.1:8081 -data ./data

Check a configuration (every problem, with its line) without starting:
  edged -t -config edged.yaml

A shield and an edge sharing one purge bus (the same two variables on both):
  export EDGED_PURGE_TOKEN=... EDGED_NATS_TOKEN=...
  edged -role shield -origin http://127.0.0.1:9000 -listen 127.0.0.1:8090 -admin 127.0.0.1:8091 \
      -data ./data/shield -nats-listen 127.0.0.1:8092
  edged -shield http://127.0.0.1:8090 -listen 127.0.0.1:8080 -admin 127.0.0.1:8081 \
      -data ./data/edge -nats nats://127.0.0.1:8092

A forward proxy on :3128 (clients set http_proxy/https_proxy to it):
  edged -role forward -listen 127.0.0.1:3128 -admin 127.0.0.1:3129 -data ./data/forward

Every node on a NATS cluster of three servers (purge.nats.replicas: 3 and
purge.nats.nkey_seed or credentials in the -config file; docs/purge.md):
  edged -config edge.yaml -nats nats://nats-1:4222 -nats nats://nats-2:4222 -nats nats://nats-3:4222

Environment:
  EDGED_PURGE_TOKEN  bearer token of the purge API; also signs purge events (config: purge.token)
  EDGED_NATS_TOKEN   NATS token of the purge bus, required by -nats-listen (config: purge.nats.token_env)

Flags:
`)
	fs := newFlagSet(&flagValues{})
	fs.SetOutput(w)
	fs.PrintDefaults()
}
