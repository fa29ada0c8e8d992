package targets

import (
	"fmt"
	"net"
	"strings"
	"text/template"
)

// Squid is Squid as a caching forward proxy with a memory cache only (no
// cache_dir), the forward-proxy anchor of the benchmarks.
type Squid struct {
	Listen string // 127.0.0.1:port
	Dir    string // temp dir: pid, cache.log, coredumps; the proxy user must write it
	Memory string // cache_mem in Squid's syntax ("256 MB")
	// AccessLog, when true, logs every request to Dir/access.log as Squid
	// does by default; false is access_log none.
	AccessLog bool
}

var squidTmpl = template.Must(template.New("squid").Parse(`# Squid as a caching forward proxy for edged's benchmarks (generated; loopback only)
http_port {{.Listen}}
pid_filename {{.Dir}}/squid.pid
cache_log {{.Dir}}/cache.log
coredump_dir {{.Dir}}
{{- if .AccessLog}}
access_log stdio:{{.Dir}}/access.log squid
{{- else}}
access_log none
{{- end}}
# Memory cache only: no cache_dir. Objects up to 2 MB are kept in memory,
# and every object goes there (memory_cache_mode always).
cache_mem {{.Memory}}
maximum_object_size_in_memory 2 MB
memory_cache_mode always
cache allow all
# Loopback clients only, every method (CONNECT to any port included).
acl bench_clients src 127.0.0.0/8
http_access allow bench_clients
http_access deny all
# No helpers, no ICP/HTCP, no DNS for the IP-literal targets.
pinger_enable off
icp_port 0
htcp_port 0
dns_nameservers 127.0.0.1
shutdown_lifetime 1 seconds
`))

// Render returns squid.conf.
func (s Squid) Render() (string, error) {
	if s.Listen == "" || s.Dir == "" {
		return "", fmt.Errorf("squid config: listen and dir are required: %+v", s)
	}
	if s.Memory == "" {
		s.Memory = "256 MB"
	}
	var b strings.Builder
	if err := squidTmpl.Execute(&b, s); err != nil {
		return "", fmt.Errorf("squid config: %w", err)
	}
	return b.String(), nil
}

// Argv is the command line that runs Squid in the foreground, one process
// (-N: no daemon, no SMP workers), logging to cache.log.
func (s Squid) Argv(bin, conf string) []string {
	return []string{bin, "-N", "-f", conf}
}

// EdgedForward is an edged forward proxy's configuration file
// (role: forward).
type EdgedForward struct {
	Listen, Admin string // 127.0.0.1:port
	Data          string // the disk tier's directory
	Memory        string // cache.memory; empty means 256MiB
	// ConnectPorts are the ports CONNECT may reach (the tunnel sink's).
	ConnectPorts []int
	// AccessLog turns on the JSON line per request and tunnel.
	AccessLog bool
}

var edgedForwardTmpl = template.Must(template.New("edged-forward").Parse(`# edged as a forward proxy for edged's benchmarks (generated; loopback only)
role: forward
listen: {{.Listen}}
admin: {{.Admin}}
data: {{.Data}}
log:
  level: warn
  access: {{.AccessLog}}
cache:
  memory: {{.Memory}}
  disk: 10GiB
forward:
  connect_ports: [{{.Ports}}]
  dial:
    # The origin and the tunnel sink are on loopback, which the proxy
    # refuses by default.
    allow_networks: [127.0.0.0/8]
`))

// Render returns the YAML file.
func (e EdgedForward) Render() (string, error) {
	if e.Listen == "" || e.Admin == "" || e.Data == "" || len(e.ConnectPorts) == 0 {
		return "", fmt.Errorf("edged forward config: listen, admin, data and connect ports are required: %+v", e)
	}
	if e.Memory == "" {
		e.Memory = "256MiB"
	}
	ports := make([]string, len(e.ConnectPorts))
	for i, p := range e.ConnectPorts {
		ports[i] = fmt.Sprint(p)
	}
	var b strings.Builder
	err := edgedForwardTmpl.Execute(&b, struct {
		EdgedForward
		Ports string
	}{e, strings.Join(ports, ", ")})
	if err != nil {
		return "", fmt.Errorf("edged forward config: %w", err)
	}
	return b.String(), nil
}

// Port returns the port of a host:port address, 0 when it has none.
func Port(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}
