package targets

import (
	"strings"
	"testing"

	"edged/edge/config"
)

func TestNginxRender(t *testing.T) {
	n := Nginx{Listen: "127.0.0.1:8100", Origin: "127.0.0.1:9100", Dir: "/tmp/x", Workers: 2}
	got, err := n.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"worker_processes 2;",
		"daemon off;",
		"access_log /tmp/x/access.log combined buffer=64k flush=1s;",
		"proxy_cache_path /tmp/x/cache levels=1:2 keys_zone=bench:64m max_size=10g",
		"server 127.0.0.1:9100;\n        keepalive 64;",
		"listen 127.0.0.1:8100;",
		"proxy_http_version 1.1;",
		`proxy_set_header Connection "";`,
		"proxy_cache bench;",
		"proxy_cache_lock on;",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "0.0.0.0") {
		t.Error("nginx.conf listens beyond loopback")
	}
	n.NoAccessLog = true
	if got, _ := n.Render(); !strings.Contains(got, "access_log off;") || strings.Contains(got, "access.log") {
		t.Errorf("NoAccessLog: the access log is still on:\n%s", got)
	}
	if _, err := (Nginx{Listen: "x"}).Render(); err == nil {
		t.Error("Render without origin: no error")
	}
}

func TestVarnishRender(t *testing.T) {
	v := Varnish{Listen: "127.0.0.1:8200", Origin: "127.0.0.1:9100", WorkDir: "/tmp/v", VCL: "/tmp/v.vcl"}
	got, err := v.RenderVCL()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"vcl 4.1;", `.host = "127.0.0.1";`, `.port = "9100";`, "obj.hits > 0"} {
		if !strings.Contains(got, want) {
			t.Errorf("VCL lacks %q:\n%s", want, got)
		}
	}
	argv := strings.Join(v.Argv("varnishd"), " ")
	if want := "varnishd -F -n /tmp/v -a 127.0.0.1:8200 -f /tmp/v.vcl -s malloc,256m"; !strings.HasPrefix(argv, want) {
		t.Errorf("argv = %q, want prefix %q", argv, want)
	}
	if _, err := (Varnish{Origin: "nohostport"}).RenderVCL(); err == nil {
		t.Error("RenderVCL with a bad origin: no error")
	}
}

func TestEdgedRender(t *testing.T) {
	tests := []struct {
		name string
		in   Edged
		want []string
		not  []string
	}{
		{"defaults", Edged{Listen: "127.0.0.1:1", Admin: "127.0.0.1:2", Origin: "http://127.0.0.1:3", Data: "/d"},
			[]string{"listen: 127.0.0.1:1\n", "admin: 127.0.0.1:2\n", "origin: http://127.0.0.1:3\n", "memory: 256MiB\n", "access: false\n"},
			[]string{"write_queue"}},
		{"disk only, queue, extra", Edged{Listen: "a", Admin: "b", Origin: "c", Data: "d", Memory: "0", WriteQueue: 4096, Extra: "purge:\n  token: t\n"},
			[]string{"memory: 0\n", "write_queue: 4096\n", "\npurge:\n  token: t\n"}, nil},
		{"access log", Edged{Listen: "a", Admin: "b", Origin: "c", Data: "d", AccessLog: "/tmp/access.log"},
			[]string{"  access: {format: json, file: /tmp/access.log, buffer: 64KiB, flush: 1s}\n"}, []string{"access: false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Render()
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("config lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(got, w) {
					t.Errorf("config has %q:\n%s", w, got)
				}
			}
		})
	}
	if _, err := (Edged{}).Render(); err == nil {
		t.Error("Render of an empty config: no error")
	}
}

// The rendered edged configs are ones edged accepts, access log or not.
func TestEdgedRenderValid(t *testing.T) {
	for _, e := range []Edged{
		{Listen: "127.0.0.1:1", Admin: "127.0.0.1:2", Origin: "http://127.0.0.1:3", Data: t.TempDir()},
		{Listen: "127.0.0.1:1", Admin: "127.0.0.1:2", Origin: "http://127.0.0.1:3", Data: t.TempDir(), AccessLog: t.TempDir() + "/access.log"},
	} {
		yaml, err := e.Render()
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Parse([]byte(yaml), "edged.yaml")
		if err == nil {
			err = c.Check()
		}
		if err != nil {
			t.Errorf("%v\n%s", err, yaml)
		}
		if got, want := c.Log.Access.Off, e.AccessLog == ""; got != want {
			t.Errorf("access log off = %v, want %v", got, want)
		}
	}
}
