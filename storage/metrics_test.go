package storage

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gathered returns the value of each series as name{tier} -> value.
func gathered(t testing.TB, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	got := make(map[string]float64)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			switch {
			case m.GetGauge() != nil:
				got[name] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[name] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, Registerer: reg, WriteQueue: 1})
	release := gateWriter(t, s)
	for _, k := range []string{"http://h/1", "http://h/2", "http://h/3", "http://h/4"} {
		s.Set(newEntry(k, 10))
	}
	release()
	s.Flush()
	st := s.Stats()
	if st.SkippedWrites == 0 || st.MemoryEntries != 4 {
		t.Fatalf("stats %+v: want skipped writes and 4 memory entries", st)
	}
	got := gathered(t, reg)
	want := map[string]float64{
		"edged_storage_entries{disk}":             float64(st.DiskEntries),
		"edged_storage_entries{memory}":           4,
		"edged_storage_bytes{disk}":               float64(st.DiskBytes),
		"edged_storage_bytes{memory}":             float64(st.MemoryBytes),
		"edged_storage_capacity_bytes{disk}":      DefaultDiskBytes,
		"edged_storage_capacity_bytes{memory}":    DefaultMemoryBytes,
		"edged_storage_evictions_total{disk}":     0,
		"edged_storage_evictions_total{memory}":   0,
		"edged_storage_pending_writes":            0,
		"edged_storage_disk_writes_total":         float64(st.DiskWrites),
		"edged_storage_disk_writes_skipped_total": float64(st.SkippedWrites),
		"edged_storage_corrupt_entries_total":     0,
		"edged_storage_disk_errors_total":         0,
		"edged_storage_damaged_files_total":       0,
		"edged_storage_body_files_scrubbed_total": 0,
	}
	if len(got) != len(want) {
		t.Errorf("gathered %d series, want %d: %v", len(got), len(want), got)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, w)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openStore(t, Options{Dir: dir, Registerer: reg}) // Close unregistered the collector
}
