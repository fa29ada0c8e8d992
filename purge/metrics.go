package purge

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"edged/internal/promreg"
)

// metrics of one Bus; registered on Options.Registerer when it is set.
type metrics struct {
	published prometheus.Counter
	// expansionDropped counts what an Expander added that was no valid
	// purge item, left out of the published purge (Publish).
	expansionDropped prometheus.Counter
	applied          *prometheus.CounterVec // by kind
	objects          prometheus.Counter
	applyDur         prometheus.Histogram
	lag              prometheus.Histogram // event time to local apply
	pending          prometheus.Gauge     // events in the stream not yet applied here
	appliedSeq       prometheus.Gauge
	connected        prometheus.Gauge
	server           *prometheus.GaugeVec // 1 for the server connected to
	reconnects       prometheus.Counter
	behind           prometheus.GaugeFunc
	streamLast       prometheus.GaugeFunc
	gaps             prometheus.Counter
	duplicates       prometheus.Counter
	lostPulls        prometheus.Counter
	fast             prometheus.Counter
	early            *prometheus.CounterVec // by result (early.go)
	failures         prometheus.Counter
	rejected         *prometheus.CounterVec // by reason: unsigned, bad_signature
	// keyMismatch is 1 once a peer's hello or event failed verification.
	keyMismatch prometheus.Gauge
	// clockOffset is the NATS server's clock minus this node's (clock.go).
	clockOffset prometheus.Gauge
}

// newMetrics makes the bus metrics; health is read at each scrape.
func newMetrics(reg prometheus.Registerer, health func() Health) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_purge_published_total", Help: "Purges this node published to the bus (acknowledged by JetStream).",
		}),
		expansionDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_purge_expansion_dropped_total", Help: "URLs and prefixes the routes map a purge to (strip_prefix, upstream_path, query rules) that were no valid purge item and were left out of it; each is logged and named in the purge's answer.",
		}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_purge_applied_total", Help: "Purge events applied locally, by selector kind (url, prefix, tag, host, all).",
		}, []string{"kind"}),
		objects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_purge_objects_total", Help: "Cached objects removed or marked stale by applied purges.",
		}),
		applyDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edged_purge_apply_duration_seconds", Help: "Time to apply one purge event to the local cache.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "edged_purge_lag_seconds", Help: "Time from a purge's publication to its local apply.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12),
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edged_purge_pending_events", Help: "Purge events in the stream not yet applied locally.",
		}),
		appliedSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edged_purge_applied_sequence", Help: "Stream sequence of the last purge applied locally.",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edged_purge_bus_connected", Help: "1 while the purge bus is connected to NATS.",
		}),
		server: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edged_purge_bus_server", Help: "1 for the NATS server the purge bus is connected to (URL and cluster name), absent while disconnected.",
		}, []string{"server"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_purge_bus_reconnects_total", Help: "Times the purge bus connected to NATS again after losing its connection.",
		}),
		behind: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edged_purge_behind", Help: "1 while this node has trailed the purge stream for longer than purge.max_lag (events not applied, or the stream out of reach).",
		}, func() float64 {
			if health().Behind {
				return 1
			}
			return 0
		}),
		streamLast: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edged_purge_stream_sequence", Help: "Last sequence of the purge stream as this node last saw it; edged_purge_applied_sequence trails it while purges are pending.",
		}, func() float64 { return float64(health().StreamLast) }),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_purge_gaps_total", Help: "Times the stream had lost events this node missed, so the whole cache was marked stale.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_purge_duplicates_total", Help: "Purge events delivered again and skipped.",
		}),
		fast: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_purge_fast_applied_total", Help: "Purge events applied from the fast path (core NATS, right after the stream acknowledged them) before the stream delivered them.",
		}),
		early: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_purge_early_total", Help: "Early announcements of purges (before JetStream acknowledged them), by result: hidden, rejected (bad signature), expired (too old), skipped (too many hides held), dropped (no ordered apply within the timeout, or the publish failed).",
		}, []string{"result"}),
		lostPulls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_purge_lost_pulls_total", Help: "Sessions ended because their consumer never got this node's pull request (a new one started at once).",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edged_purge_apply_failures_total", Help: "Failed Invalidate calls (each is retried).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edged_purge_rejected_total", Help: "Purge events not applied because they lack a valid signature of the fleet's key, or are a signed event published again, by reason (unsigned, bad_signature, replayed).",
		}, []string{"reason"}),
		keyMismatch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edged_purge_key_mismatch", Help: "1 once a peer's hello or purge event failed verification since start: the nodes' purge signing keys (EDGED_PURGE_TOKEN) differ.",
		}),
		clockOffset: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edged_purge_clock_offset_seconds", Help: "The purge stream's NATS server clock minus this node's, as last measured; purges are signed with the corrected time. Over 5 s either way is logged at ERROR and named on /healthz: fix the node's NTP.",
		}),
	}
	for _, r := range []string{rejectUnsigned, rejectBadSignature, rejectReplayed} {
		m.rejected.WithLabelValues(r) // export zeros, so an alert can watch the rate
	}
	if err := promreg.All(reg, m.published, m.expansionDropped, m.applied, m.objects, m.applyDur, m.lag,
		m.pending, m.appliedSeq, m.connected, m.server, m.reconnects, m.behind, m.streamLast, m.gaps, m.duplicates, m.fast, m.early, m.lostPulls, m.failures, m.rejected, m.keyMismatch, m.clockOffset); err != nil {
		return nil, fmt.Errorf("registering purge metrics: %w", err)
	}
	return m, nil
}
