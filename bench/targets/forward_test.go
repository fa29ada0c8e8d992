package targets

import (
	"strings"
	"testing"
)

func TestSquidRender(t *testing.T) {
	s := Squid{Listen: "127.0.0.1:3128", Dir: "/tmp/sq"}
	got, err := s.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"http_port 127.0.0.1:3128\n",
		"pid_filename /tmp/sq/squid.pid",
		"access_log none",
		"cache_mem 256 MB",
		"memory_cache_mode always",
		"acl bench_clients src 127.0.0.0/8\nhttp_access allow bench_clients\nhttp_access deny all",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("squid.conf lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\ncache_dir ") {
		t.Error("squid.conf has a disk cache; the anchor is a memory cache")
	}
	s.AccessLog = true
	if got, _ := s.Render(); !strings.Contains(got, "access_log stdio:/tmp/sq/access.log squid") {
		t.Errorf("AccessLog: %s", got)
	}
	if argv := strings.Join(s.Argv("squid", "/tmp/sq/squid.conf"), " "); argv != "squid -N -f /tmp/sq/squid.conf" {
		t.Errorf("Argv = %q", argv)
	}
	if _, err := (Squid{Listen: "x"}).Render(); err == nil {
		t.Error("Render without dir: no error")
	}
}

func TestEdgedForwardRender(t *testing.T) {
	e := EdgedForward{Listen: "127.0.0.1:3129", Admin: "127.0.0.1:3130", Data: "/tmp/d", ConnectPorts: []int{443, 9000}}
	got, err := e.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"role: forward\n", "listen: 127.0.0.1:3129\n", "admin: 127.0.0.1:3130\n", "access: false\n",
		"memory: 256MiB\n", "connect_ports: [443, 9000]\n", "allow_networks: [127.0.0.0/8]\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if _, err := (EdgedForward{Listen: "x", Admin: "y", Data: "z"}).Render(); err == nil {
		t.Error("Render without connect ports: no error")
	}
	if p := Port("127.0.0.1:3129"); p != 3129 {
		t.Errorf("Port = %d", p)
	}
}
