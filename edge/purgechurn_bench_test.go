package edge

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edged/storage"
)

// BenchmarkPurgeChurnCollapsing measures how purges weaken the collapsing
// of a hot key's fills: a request that sees a purge newer than the running
// fill, one that may cover its object, starts a fill of its own
// (flights.join).
// 32 clients request one hot key in a loop against an origin that takes
// 20 ms; the hot key is purged hot times a second (each purge costs at
// least one fill by design), and other URLs are purged other times a
// second meanwhile. Reported: origin fetches per purge of the hot key
// (fetches/hot-purge; 1 is ideal, less when purges come faster than a
// fill) and per second. Run with -benchtime=1x: each case runs 2 s.
func BenchmarkPurgeChurnCollapsing(b *testing.B) {
	for _, tc := range []struct{ hot, other int }{
		{0, 0}, {10, 0}, {50, 0}, {200, 0}, {10, 50}, {10, 200}, {10, 1000},
	} {
		b.Run(fmt.Sprintf("hot=%d/other=%d", tc.hot, tc.other), func(b *testing.B) {
			benchmarkPurgeChurn(b, 32, tc.hot, tc.other)
		})
	}
}

func benchmarkPurgeChurn(b *testing.B, clients, hotRate, otherRate int) {
	c := newClock()
	o := newOrigin(b, c, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // the origin's latency (a measurement, not a test)
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = io.WriteString(w, "hot object")
	})
	e := newEdge(b, c, edgeConfig{upstream: o.URL})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	get := func() {
		resp, err := client.Get(e.URL + "/hot")
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get() // stored
	o.requests.Store(0)
	const duration = 2 * time.Second
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var requests atomic.Int64
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				get()
				requests.Add(1)
			}
		})
	}
	var hotPurges atomic.Int64
	purge := func(rate int, key string, count *atomic.Int64) {
		if rate == 0 {
			return
		}
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := e.store.Purge(storage.Purge{Keys: []string{key}}); err != nil {
				b.Error(err)
				return
			}
			if count != nil {
				count.Add(1)
			}
		}
	}
	start := time.Now()
	wg.Go(func() { purge(hotRate, e.URL+"/hot", &hotPurges) })
	wg.Go(func() { purge(otherRate, e.URL+"/other", nil) })
	time.Sleep(duration)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	fetches := float64(o.requests.Load())
	b.ReportMetric(fetches/elapsed, "fetches/s")
	b.ReportMetric(float64(requests.Load())/elapsed, "requests/s")
	if n := hotPurges.Load(); n > 0 {
		b.ReportMetric(fetches/float64(n), "fetches/hot-purge")
	}
}
