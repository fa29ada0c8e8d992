package storage

import "github.com/prometheus/client_golang/prometheus"

// collector exports Stats as the edged_storage_* metrics. Reading Stats at
// scrape time keeps one source of truth and costs nothing between scrapes.
type collector struct{ s *Store }

var (
	descBytes = prometheus.NewDesc("edged_storage_bytes",
		"Bytes held by tier (memory: entry sizes; disk: keys, encoded values and body files).", []string{"tier"}, nil)
	descCapacity = prometheus.NewDesc("edged_storage_capacity_bytes",
		"Size of each tier in the bytes edged_storage_bytes counts (memory: 3/8 of cache.memory; disk: cache.disk); 0 for a memory tier turned off.", []string{"tier"}, nil)
	descEntries = prometheus.NewDesc("edged_storage_entries",
		"Entries held by tier.", []string{"tier"}, nil)
	descEvictions = prometheus.NewDesc("edged_storage_evictions_total",
		"Entries evicted by tier.", []string{"tier"}, nil)
	descPending = prometheus.NewDesc("edged_storage_pending_writes",
		"Stored entries whose disk write has not landed yet.", nil, nil)
	descWrites = prometheus.NewDesc("edged_storage_disk_writes_total",
		"Entries written to disk.", nil, nil)
	descSkipped = prometheus.NewDesc("edged_storage_disk_writes_skipped_total",
		"Disk writes skipped because the write queue was full.", nil, nil)
	descCorrupt = prometheus.NewDesc("edged_storage_corrupt_entries_total",
		"Damaged disk entries detected and dropped.", nil, nil)
	descDiskErrors = prometheus.NewDesc("edged_storage_disk_errors_total",
		"Failed disk operations.", nil, nil)
	descDamaged = prometheus.NewDesc("edged_storage_damaged_files_total",
		"Damaged store files set aside (renamed edged.db.damaged-<time>) and replaced by an empty one.", nil, nil)
	descScrubbed = prometheus.NewDesc("edged_storage_body_files_scrubbed_total",
		"Body files the scrubber read after start and found intact (damaged ones count in edged_storage_corrupt_entries_total).", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBytes, descCapacity, descEntries, descEvictions, descPending,
		descWrites, descSkipped, descCorrupt, descDiskErrors, descDamaged, descScrubbed} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(descBytes, gauge, float64(st.MemoryBytes), TierMemory.String())
	ch <- prometheus.MustNewConstMetric(descBytes, gauge, float64(st.DiskBytes), TierDisk.String())
	ch <- prometheus.MustNewConstMetric(descCapacity, gauge, float64(st.MemoryLimit), TierMemory.String())
	ch <- prometheus.MustNewConstMetric(descCapacity, gauge, float64(st.DiskLimit), TierDisk.String())
	ch <- prometheus.MustNewConstMetric(descEntries, gauge, float64(st.MemoryEntries), TierMemory.String())
	ch <- prometheus.MustNewConstMetric(descEntries, gauge, float64(st.DiskEntries), TierDisk.String())
	ch <- prometheus.MustNewConstMetric(descEvictions, counter, float64(st.MemoryEvictions), TierMemory.String())
	ch <- prometheus.MustNewConstMetric(descEvictions, counter, float64(st.DiskEvictions), TierDisk.String())
	ch <- prometheus.MustNewConstMetric(descPending, gauge, float64(st.PendingWrites))
	ch <- prometheus.MustNewConstMetric(descWrites, counter, float64(st.DiskWrites))
	ch <- prometheus.MustNewConstMetric(descSkipped, counter, float64(st.SkippedWrites))
	ch <- prometheus.MustNewConstMetric(descCorrupt, counter, float64(st.CorruptDropped))
	ch <- prometheus.MustNewConstMetric(descDiskErrors, counter, float64(st.DiskErrors))
	ch <- prometheus.MustNewConstMetric(descDamaged, counter, float64(st.DamagedFiles))
	ch <- prometheus.MustNewConstMetric(descScrubbed, counter, float64(st.ScrubbedFiles))
}
