package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMemoryLimitLogNamesTheTier: the start's "memory limit" line gives
// the memory tier's real size, three eighths of cache.memory; it logged
// cache.memory itself as memory_tier, 8/3 of what the tier gets.
func TestMemoryLimitLogNamesTheTier(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "") // else edged leaves the runtime's limit alone and says nothing
	origin := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(origin.Close)
	cfg := filepath.Join(t.TempDir(), "edged.yaml")
	if err := os.WriteFile(cfg, []byte("cache:\n  memory: 64MiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := runEdged(t, "-config", cfg, "-origin", origin.URL, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-data", t.TempDir())
	if p.public == "" {
		t.Fatalf("edged did not start:\n%s", p.stderr)
	}
	var rec struct {
		Msg         string `json:"msg"`
		Bytes       int64  `json:"bytes"`
		CacheMemory int64  `json:"cache_memory"`
		MemoryTier  int64  `json:"memory_tier"`
	}
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "memory limit" {
			break
		}
	}
	if rec.Msg != "memory limit" || rec.Bytes != 64<<20 || rec.CacheMemory != 64<<20 || rec.MemoryTier != 24<<20 {
		t.Errorf("memory limit line %+v, want bytes and cache_memory 64 MiB, memory_tier 24 MiB (3/8)\n%s", rec, p.stderr)
	}
}
