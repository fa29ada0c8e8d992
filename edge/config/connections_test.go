package config

import (
	"strings"
	"testing"
)

// server.max_connections, unset, is derived from cache.memory: one per
// ConnectionMemory, at least MinConnections; a value set is kept. Role
// forward counts a connection at ForwardConnectionMemory (a spliced
// tunnel's measured cost, 1.6 times over), or under a bandwidth limit
// ForwardLimitedConnectionMemory, and its memory tier gives up two eighths
// of cache.memory for them.
func TestMaxConnectionsDerived(t *testing.T) {
	const fwd = "role: forward\n"
	for _, tc := range []struct {
		in      string
		want    int
		tierMiB int64 // the memory tier, when not 0
	}{
		{accessBase, 1024, 96},                                  // the default 256MiB
		{"cache: {memory: 64MiB}\n" + accessBase, 256, 24},      // nginx's worker_connections is 512 a worker
		{"cache: {memory: 16GiB}\n" + accessBase, 65536, 6144},  // a busy node's tens of thousands
		{"cache: {memory: 4MiB}\n" + accessBase, 64, 0},         // the floor
		{"cache: {memory: 0}\n" + accessBase, 1024, 0},          // no memory tier: the default's
		{"server: {max_connections: 10}\n" + accessBase, 10, 0}, // as set
		{fwd, 4096, 32}, // the default 256MiB: 128 users at 32 tunnels each
		{fwd + "cache: {memory: 1GiB}\n", 16384, 128}, // 512 users
		{fwd + "cache: {memory: 2MiB}\n", 64, 0},      // the floor
		{fwd + "server: {max_connections: 10}\n", 10, 32},
		// Tunnels relayed through buffers, to pace them.
		{fwd + "forward: {rules: {limits: {bandwidth: 1MiB}}}\n", 1638, 32},
		{fwd + "forward: {rules: {limits: {bandwidth: 0}}}\n", 4096, 32}, // no limit
	} {
		c, err := Parse([]byte(tc.in), "edged.yaml")
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
		if got := c.StorageOptions().MemoryBytes >> 20; tc.tierMiB > 0 && got != tc.tierMiB {
			t.Errorf("%q: memory tier %d MiB, want %d MiB", tc.in, got, tc.tierMiB)
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
