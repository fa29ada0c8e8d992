package config

import (
	"strings"
	"testing"
)

// server.max_connections, unset, is derived from cache.memory: one per
// ConnectionMemory, at least MinConnections; a value set is kept.
func TestMaxConnectionsDerived(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 1024},                              // the default 256MiB
		{"cache: {memory: 64MiB}\n", 256},       // nginx's worker_connections is 512 a worker
		{"cache: {memory: 16GiB}\n", 65536},     // a busy node's tens of thousands
		{"cache: {memory: 4MiB}\n", 64},         // the floor
		{"cache: {memory: 0}\n", 1024},          // no memory tier: the default's
		{"server: {max_connections: 10}\n", 10}, // as set
	} {
		c, err := Parse([]byte(tc.in+accessBase), "edged.yaml")
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := c.MaxConnections(); got != tc.want {
			t.Errorf("%q: MaxConnections() = %d, want %d", tc.in, got, tc.want)
		}
	}
	c, err := Parse([]byte("server:\n  max_connections: -1\n"+accessBase), "edged.yaml")
	if err == nil {
		err = c.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "edged.yaml:2: server.max_connections: must not be negative") {
		t.Errorf("max_connections: -1: %v, want an error naming the field and line", err)
	}
}
