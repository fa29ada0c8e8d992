package targets

import (
	"fmt"
	"net"
	"strings"
	"text/template"
)

// Nginx is an nginx proxy_cache in front of the origin.
type Nginx struct {
	Listen  string // 127.0.0.1:port
	Origin  string // host:port of the origin
	Dir     string // temp dir: cache, temp files, pid, error log
	Workers int    // worker_processes; match the cores
	// MaxCache bounds the cache on disk, in nginx's size syntax ("10g").
	MaxCache string
	// NoAccessLog turns nginx's access log off. By default every request
	// is logged to Dir/access.log in the combined format, buffered as
	// operators run it (buffer=64k flush=1s): the comparable of edged's
	// buffered access log.
	NoAccessLog bool
}

var nginxTmpl = template.Must(template.New("nginx").Parse(`# nginx proxy_cache for edged's benchmarks (generated; loopback only)
daemon off;
master_process on;
worker_processes {{.Workers}};
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events {
    worker_connections 8192;
}
http {
{{- if .NoAccessLog}}
    access_log off;
{{- else}}
    access_log {{.Dir}}/access.log combined buffer=64k flush=1s;
{{- end}}
    sendfile on;
    # tcp_nopush (TCP_CORK) stalls 100 KiB hits for ~40 ms on loopback
    # (2.3k req/s instead of 10k at 64 conns): off is nginx at its best here.
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy_temp;
    fastcgi_temp_path {{.Dir}}/fastcgi_temp;
    uwsgi_temp_path {{.Dir}}/uwsgi_temp;
    scgi_temp_path {{.Dir}}/scgi_temp;
    proxy_cache_path {{.Dir}}/cache levels=1:2 keys_zone=bench:64m max_size={{.MaxCache}} inactive=1h use_temp_path=off;
    upstream origin {
        server {{.Origin}};
        keepalive 64;
    }
    server {
        listen {{.Listen}};
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            add_header X-Cache-Status $upstream_cache_status;
        }
    }
}
`))

// Render returns nginx.conf.
func (n Nginx) Render() (string, error) {
	if n.Workers < 1 || n.Listen == "" || n.Origin == "" || n.Dir == "" {
		return "", fmt.Errorf("nginx config: listen, origin, dir and workers are required: %+v", n)
	}
	if n.MaxCache == "" {
		n.MaxCache = "10g"
	}
	var b strings.Builder
	if err := nginxTmpl.Execute(&b, n); err != nil {
		return "", fmt.Errorf("nginx config: %w", err)
	}
	return b.String(), nil
}

// Argv is the command line that runs nginx with conf in the foreground.
func (n Nginx) Argv(bin, conf string) []string {
	return []string{bin, "-c", conf, "-p", n.Dir, "-e", n.Dir + "/error.log"}
}

// Varnish is a Varnish cache (malloc storage) in front of the origin.
type Varnish struct {
	Listen  string // 127.0.0.1:port
	Origin  string // host:port of the origin
	WorkDir string // -n: varnishd's working directory
	VCL     string // path of the VCL file
	Malloc  string // malloc storage size ("256m")
}

var vclTmpl = template.Must(template.New("vcl").Parse(`vcl 4.1;
# Varnish for edged's benchmarks (generated; loopback only)

backend origin {
    .host = "{{.Host}}";
    .port = "{{.Port}}";
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
`))

// RenderVCL returns the VCL.
func (v Varnish) RenderVCL() (string, error) {
	host, port, err := net.SplitHostPort(v.Origin)
	if err != nil {
		return "", fmt.Errorf("varnish config: origin: %w", err)
	}
	var b strings.Builder
	if err := vclTmpl.Execute(&b, struct{ Host, Port string }{host, port}); err != nil {
		return "", fmt.Errorf("varnish config: %w", err)
	}
	return b.String(), nil
}

// Argv is the command line that runs varnishd in the foreground.
func (v Varnish) Argv(bin string) []string {
	malloc := v.Malloc
	if malloc == "" {
		malloc = "256m"
	}
	return []string{bin, "-F", "-n", v.WorkDir, "-a", v.Listen, "-f", v.VCL,
		"-s", "malloc," + malloc, "-T", "127.0.0.1:0", "-p", "thread_pool_min=50"}
}

// Edged is one edged node's configuration file.
type Edged struct {
	Listen, Admin string // 127.0.0.1:port
	Origin        string // http://host:port
	Data          string // the disk tier's directory
	// Memory is cache.memory ("256MiB"); "0" disables the memory tier.
	Memory string
	// WriteQueue is cache.write_queue; 0 keeps edged's default.
	WriteQueue int
	// AccessLog is the file of the access log, JSON lines buffered as by
	// default (64 KiB, 1 s); "" turns the access log off.
	AccessLog string
	// Extra is YAML appended as is (for options this package does not
	// know, such as the purge bus).
	Extra string
}

var edgedTmpl = template.Must(template.New("edged").Parse(`# edged for edged's benchmarks (generated; loopback only)
listen: {{.Listen}}
admin: {{.Admin}}
data: {{.Data}}
log:
  level: warn
{{- if .AccessLog}}
  access: {format: json, file: {{.AccessLog}}, buffer: 64KiB, flush: 1s}
{{- else}}
  access: false
{{- end}}
upstream:
  origin: {{.Origin}}
  max_idle_per_host: 256
cache:
  memory: {{.Memory}}
  disk: 10GiB
{{- if .WriteQueue}}
  write_queue: {{.WriteQueue}}
{{- end}}
debug:
  pprof: true
  token: ` + EdgedDebugToken + `
{{.Extra}}`))

// EdgedDebugToken is the bearer token of the benchmarked edged's
// /debug/pprof/ (loopback only), for the report's CPU profiles.
const EdgedDebugToken = "edgebench-debug"

// Render returns the YAML file.
func (e Edged) Render() (string, error) {
	if e.Listen == "" || e.Admin == "" || e.Origin == "" || e.Data == "" {
		return "", fmt.Errorf("edged config: listen, admin, origin and data are required: %+v", e)
	}
	if e.Memory == "" {
		e.Memory = "256MiB"
	}
	var b strings.Builder
	if err := edgedTmpl.Execute(&b, e); err != nil {
		return "", fmt.Errorf("edged config: %w", err)
	}
	return b.String(), nil
}
