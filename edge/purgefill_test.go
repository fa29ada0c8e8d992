package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/storage"
)

// storePurger is the purge bus reduced to this node: PURGE applies to the
// edge's own store before it is answered, as the bus does once every node
// has applied it.
type storePurger struct{ store *storage.Store }

func (p storePurger) PurgeURL(_ context.Context, url string, soft bool) (int, error) {
	return p.store.Purge(storage.Purge{Keys: []string{url}, Soft: soft})
}

// A request that comes after a purge is never answered from a fill that
// began before it. Such a fill's response may be the object as it was
// before the purge; it used to be stored stale (TestPurgeDuringFill) but
// handed as it was to every request that joined the fill, those that came
// after the purge's 200 included: a deploy that purged got the old page
// back. Now a request that sees a purge newer than the fill starts a fill
// of its own, and gets the new object; the request that started the old
// fill still gets what it asked for before the purge.
func TestNoJoinAcrossPurge(t *testing.T) {
	for _, tt := range []struct {
		name  string
		purge func(t *testing.T, e *testEdge, site string)
	}{
		{"url", func(t *testing.T, e *testEdge, site string) {
			applyPurge(t, e, storage.Purge{Keys: []string{"http://" + site + "/obj"}})
		}},
		{"url soft", func(t *testing.T, e *testEdge, site string) {
			applyPurge(t, e, storage.Purge{Keys: []string{"http://" + site + "/obj"}, Soft: true})
		}},
		{"tag", func(t *testing.T, e *testEdge, site string) {
			applyPurge(t, e, storage.Purge{Tags: []string{"deploy"}})
		}},
		{"tag soft", func(t *testing.T, e *testEdge, site string) {
			applyPurge(t, e, storage.Purge{Tags: []string{"deploy"}, Soft: true})
		}},
		{"host", func(t *testing.T, e *testEdge, site string) {
			applyPurge(t, e, storage.Purge{Prefixes: []string{"http://" + site + "/"}})
		}},
		{"all", func(t *testing.T, e *testEdge, site string) { applyPurge(t, e, storage.Purge{All: true}) }},
		{"announced", func(t *testing.T, e *testEdge, site string) {
			// The purge bus's early path: hidden before it is applied.
			t.Cleanup(e.store.Hide(storage.Purge{Tags: []string{"deploy"}}))
		}},
		{"PURGE method", func(t *testing.T, e *testEdge, site string) {
			e.handler.opts.Purger = storePurger{e.store}
			e.handler.opts.PurgeFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			if resp, body := e.do(t, methodPurge, "/obj", "Host", site); resp.StatusCode != http.StatusOK {
				t.Fatalf("PURGE: %d %q", resp.StatusCode, body)
			}
		}},
	} {
		for _, slice := range []int64{0, 1 << 16} {
			t.Run(fmt.Sprintf("%s/slice=%d", tt.name, slice), func(t *testing.T) {
				pr := newPurgeRace(t, slice, "max-age=600")
				e, o, site, fetches, release := pr.e, pr.o, pr.site, &pr.fetches, pr.release

				before := fetchAsync(t, e, "/obj", "Host", site)
				waitFor(t, func() bool { return fetches.Load() == 1 }) // the fill is under way
				tt.purge(t, e, site)
				after := fetchAsync(t, e, "/obj", "Host", site)
				waitFor(t, func() bool {
					return fetches.Load() == 2 || testutil.ToFloat64(e.handler.metrics.coalesced) > 0
				})
				if n := testutil.ToFloat64(e.handler.metrics.coalesced); n > 0 {
					t.Errorf("a request after the purge joined the fill that began before it (%v joined)", n)
					release.open() // it waits for that fill
				}
				got := <-after
				o.mu.Lock()
				sliced := o.seen[0].Header.Get("Range") != ""
				o.mu.Unlock()
				if sliced != (slice > 0) {
					t.Errorf("slice %d: the fill asked for a Range: %v", slice, sliced)
				}
				release.open()
				old := <-before
				if got.body != "v2" {
					t.Errorf("request after the purge: %q (%s), want v2", got.body, got.cacheStatus)
				}
				if old.body != "v1" {
					t.Errorf("request before the purge: %q (%s), want v1 (the fill it started)", old.body, old.cacheStatus)
				}
				// The old fill's response, ended after the new one, is not
				// stored over it (TestOlderFillNeverStoresOverNewer).
				e.store.Flush()
				if resp, body := e.get(t, "/obj", "Host", site); body != "v2" {
					t.Errorf("next request: %q (%s), want v2", body, cacheStatus(resp))
				}
			})
		}
	}
}

// A fill that began before a purge and ends after a fill begun after it
// never stores its response over the newer one. It used to: the response
// fetched after the purge was lost, the next request revalidated the old
// one (an origin fetch where a hit was due), and after a soft purge
// stale-while-revalidate served the pre-purge object again. The origin's
// timing is held by channels: the first fill waits until the second has
// been stored and answered.
func TestOlderFillNeverStoresOverNewer(t *testing.T) {
	for _, soft := range []bool{false, true} {
		for _, slice := range []int64{0, 1 << 16} {
			t.Run(fmt.Sprintf("soft=%v/slice=%d", soft, slice), func(t *testing.T) {
				pr := newPurgeRace(t, slice, "max-age=600, stale-while-revalidate=600")
				e, site, fetches, release := pr.e, pr.site, &pr.fetches, pr.release

				before := fetchAsync(t, e, "/obj", "Host", site)
				<-pr.arrived // the first fill is at the origin
				applyPurge(t, e, storage.Purge{Keys: []string{"http://" + site + "/obj"}, Soft: soft})
				if resp, body := e.get(t, "/obj", "Host", site); body != "v2" {
					t.Fatalf("request after the purge: %q (%s), want v2", body, cacheStatus(resp))
				}
				release.open() // the first fill ends last
				if old := <-before; old.body != "v1" {
					t.Errorf("request before the purge: %q (%s), want v1", old.body, old.cacheStatus)
				}
				e.waitTasks(t) // its fill has stored what it stores
				e.store.Flush()
				resp, body := e.get(t, "/obj", "Host", site)
				if body != "v2" || !isHit(resp) {
					t.Errorf("next request: %q (%s), want v2 from the cache", body, cacheStatus(resp))
				}
				if n := fetches.Load(); n != 2 {
					t.Errorf("origin fetched %d times, want 2", n)
				}
			})
		}
	}
}

// Without a purge the fills are still shared: a request that comes while
// one is under way joins it.
func TestJoinWithoutPurge(t *testing.T) {
	testJoinedDespite(t, func(t *testing.T, e *testEdge) {
		applyPurge(t, e, storage.Purge{Keys: []string{"http://h.example/other"}}) // before the fill: no matter
	}, nil)
}

// A purge that cannot cover the object being filled (another URL, another
// host, a Delete of another key) leaves its fill joinable. Before, any
// purge ended the joining of every fill then in progress: purges of other
// objects at 50 a second made each purge of a hot key cost about 1.3
// origin fetches instead of 1 (BenchmarkPurgeChurnCollapsing).
func TestJoinAcrossPurgeOfAnotherObject(t *testing.T) {
	testJoinedDespite(t, nil, func(t *testing.T, e *testEdge) {
		applyPurge(t, e, storage.Purge{Keys: []string{"http://h.example/other"}})
		applyPurge(t, e, storage.Purge{Keys: []string{"http://h.example/obj2"}, Soft: true}) // a longer URL
		applyPurge(t, e, storage.Purge{Prefixes: []string{"http://other.example/"}})
		if err := e.store.Delete("http://h.example/other\x00x"); err != nil {
			t.Fatal(err)
		}
	})
}

// testJoinedDespite runs before, starts a fill of /obj, runs during while
// it is under way, and wants a second request to join that fill.
func testJoinedDespite(t *testing.T, before, during func(*testing.T, *testEdge)) {
	c := newClock()
	o, release := heldOrigin(t, c, "v1")
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	if before != nil {
		before(t, e)
	}
	first := fetchAsync(t, e, "/obj", "Host", "h.example")
	waitFor(t, func() bool { return o.requests.Load() == 1 })
	if during != nil {
		during(t, e)
	}
	second := fetchAsync(t, e, "/obj", "Host", "h.example")
	waitJoined(t, e, 1)
	release.open()
	for _, ch := range []<-chan fetched{first, second} {
		if got := <-ch; got.body != "v1" {
			t.Errorf("body %q (%s), want v1", got.body, got.cacheStatus)
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin fetched %d times, want 1", n)
	}
}

// purgeRace is an edge (slicing, when slice > 0) and an origin whose
// first request waits for release and answers v1, and every later one v2,
// with cacheControl and the purge tag "deploy".
type purgeRace struct {
	e       *testEdge
	o       *testOrigin
	site    string // the Host to request
	fetches atomic.Int64
	release *gate
	arrived chan struct{} // receives once the first request reached the origin
}

func newPurgeRace(t *testing.T, slice int64, cacheControl string) *purgeRace {
	c := newClock()
	pr := &purgeRace{release: newGate(), arrived: make(chan struct{}, 1), site: "h.example"}
	pr.o = newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		body := "v2"
		if pr.fetches.Add(1) == 1 {
			pr.arrived <- struct{}{}
			pr.release.wait()
			body = "v1"
		}
		w.Header().Set("Cache-Control", cacheControl)
		w.Header().Set("ETag", `"`+body+`"`)
		w.Header().Set("Surrogate-Key", "deploy")
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body)) // a slice's Range too
	})
	t.Cleanup(pr.release.open) // before the origin closes: a failing test cannot hang
	pr.e = newEdge(t, c, edgeConfig{upstream: pr.o.URL, slice: slice})
	if slice > 0 {
		pr.site = pr.e.Listener.Addr().String() // the slicing route's host
	}
	return pr
}

func applyPurge(t *testing.T, e *testEdge, p storage.Purge) {
	t.Helper()
	if _, err := e.store.Purge(p); err != nil {
		t.Fatal(err)
	}
}

type fetched struct{ body, cacheStatus string }

// fetchAsync GETs path in a goroutine; the result comes on the channel.
func fetchAsync(t *testing.T, e *testEdge, path string, fields ...string) <-chan fetched {
	ch := make(chan fetched, 1)
	go func() {
		req, err := http.NewRequest(http.MethodGet, e.URL+path, nil)
		if err != nil {
			t.Error(err)
			ch <- fetched{}
			return
		}
		for i := 0; i+1 < len(fields); i += 2 {
			if fields[i] == "Host" {
				req.Host = fields[i+1]
			} else {
				req.Header.Add(fields[i], fields[i+1])
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			ch <- fetched{}
			return
		}
		defer resp.Body.Close()
		var b []byte
		b, err = io.ReadAll(resp.Body)
		if err != nil {
			t.Error(err)
		}
		ch <- fetched{string(b), cacheStatus(resp)}
	}()
	return ch
}

// The older fill's Vary index never replaces what a newer fill stored
// under the URL's key either: an origin that stops (or starts) varying in
// a deploy, purged, had the fill begun before the purge, ending last,
// store its index (Vary: User-Agent) over the newer fill's object. The
// object fetched after the purge was lost, and each request was sent to
// the pre-purge variant its index named (revalidated, or after a soft
// purge served stale) or to the origin. The reverse too: a newer Vary
// index is not replaced by an older plain entry.
func TestOlderFillNeverStoresOverNewerVaryChange(t *testing.T) {
	for _, tc := range []struct {
		name           string
		oldVary, nVary string
	}{{"vary dropped", "User-Agent", ""}, {"vary added", "", "User-Agent"}, {"vary changed", "User-Agent", "Accept-Language"}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			release := newGate()
			t.Cleanup(release.open)
			arrived := make(chan struct{}, 1)
			var fetches atomic.Int64
			o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", "max-age=600, stale-while-revalidate=600")
				if fetches.Add(1) == 1 {
					if tc.oldVary != "" {
						w.Header().Set("Vary", tc.oldVary)
					}
					writeInTwo(w, "v1", arrived, release)
					return
				}
				if tc.nVary != "" {
					w.Header().Set("Vary", tc.nVary)
				}
				_, _ = io.WriteString(w, "v2")
			})
			e := newEdge(t, c, edgeConfig{upstream: o.URL})
			const site = "h.example"
			fields := []string{"Host", site, "User-Agent", "ua", "Accept-Language", "en"}
			before := fetchAsync(t, e, "/obj", fields...)
			<-arrived
			applyPurge(t, e, storage.Purge{Keys: []string{"http://" + site + "/obj"}, Soft: true})
			if resp, body := e.get(t, "/obj", fields...); body != "v2" {
				t.Fatalf("request after the purge: %q (%s), want v2", body, cacheStatus(resp))
			}
			release.open()
			if old := <-before; old.body != "v1" {
				t.Errorf("request before the purge: %q (%s), want v1", old.body, old.cacheStatus)
			}
			e.waitTasks(t)
			e.store.Flush()
			resp, body := e.get(t, "/obj", fields...)
			if body != "v2" || !isHit(resp) {
				t.Errorf("next request: %q (%s), want v2 from the cache", body, cacheStatus(resp))
			}
			if n := fetches.Load(); n != 2 {
				t.Errorf("origin fetched %d times, want 2", n)
			}
		})
	}
}

// The fill order's bookkeeping of an object lasts while any fill of it
// runs, and held the key of every entry stored meanwhile: a client that
// kept one fill of a URL running (a slow body) and sent made-up values of
// a field the origin varies on made it grow without end (each value a key
// of its own, as long as the value). It is bounded now.
func TestFillOrderBoundedWhileFillsOverlap(t *testing.T) {
	c := newClock()
	slow := newGate()
	arrived := make(chan struct{}, 1)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "User-Agent")
		if r.Header.Get("User-Agent") == "slow" {
			writeInTwo(w, "ok", arrived, slow)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	// The slow fill stalls while 512 requests run: under -race on a loaded
	// machine that outlasted the 5-s body timeout, which ended the fill.
	e := newEdge(t, c, edgeConfig{upstream: o.URL, bodyTimeout: 5 * time.Minute})
	// Cleanups run last first: the held answer is released before the
	// servers close, or a failing test hangs in httptest's Close.
	t.Cleanup(slow.open)
	const site = "h.example"
	e.get(t, "/page", "Host", site, "User-Agent", "first") // the Vary index: each value its own fill
	held := fetchAsync(t, e, "/page", "Host", site, "User-Agent", "slow")
	<-arrived
	for i := range 2 * maxFillOrderKeys {
		if _, body := e.get(t, "/page", "Host", site, "User-Agent", fmt.Sprint("made-up-", i)); body != "ok" {
			t.Fatalf("request %d: %q", i, body)
		}
	}
	fo := &e.handler.fills
	fo.mu.Lock()
	of := fo.objects["http://"+site+"/page"]
	fo.mu.Unlock()
	if of == nil {
		t.Fatal("no fill of /page remembered while one runs")
	}
	of.mu.Lock()
	n := len(of.stored)
	of.mu.Unlock()
	if n > maxFillOrderKeys {
		t.Errorf("%d keys remembered for one object, want at most %d", n, maxFillOrderKeys)
	}
	slow.open()
	if got := <-held; got.body != "ok" {
		t.Errorf("the slow fill: %q (%s)", got.body, got.cacheStatus)
	}
}

// writeInTwo answers body with its length, sends its first byte, signals
// arrived and sends the rest once release opens: a fill whose head has
// arrived and whose body has not.
func writeInTwo(w http.ResponseWriter, body string, arrived chan<- struct{}, release *gate) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = io.WriteString(w, body[:1])
	w.(http.Flusher).Flush()
	arrived <- struct{}{}
	release.wait()
	_, _ = io.WriteString(w, body[1:])
}

// A join that asks whether the purges since a flight began may cover its
// object (storage.Store.PurgedSince walks up to 4096 of them) asks without
// the flights' lock: a join of another key goes on meanwhile. It used to
// ask under it, and every join of the node waited for the walk.
func TestJoinAsksPurgesOutsideLock(t *testing.T) {
	var gen atomic.Uint64
	asked, answer := make(chan struct{}), make(chan struct{})
	ts := &tasks{}
	t.Cleanup(ts.retire)
	fs := &flights{tasks: ts, generation: gen.Load, purgedSince: func(string, uint64) bool {
		close(asked)
		<-answer
		return false // a purge of another object
	}}
	hold := make(chan struct{})
	filling := func(*progress) *fillResult { <-hold; return &fillResult{} }
	old, _ := fs.join("a", "a", anyEnd, filling)
	gen.Add(1) // a purge begins
	joined := make(chan *flight, 1)
	go func() {
		f, _ := fs.join("a", "a", anyEnd, filling)
		joined <- f
	}()
	<-asked
	other := make(chan *flight, 1)
	go func() {
		f, _ := fs.join("b", "b", anyEnd, filling)
		other <- f
	}()
	select {
	case <-other:
	case <-time.After(10 * time.Second):
		t.Fatal("a join of another key waited for the purge check of key a")
	}
	close(answer)
	if f := <-joined; f != old {
		t.Errorf("a join after a purge of another object started a flight of its own; want the running one joined")
	}
	close(hold)
	<-old.done
}

// A store asked of fillOrder outside a fill's begin and end (a caller's
// bug: nothing orders it against the object's other fills) is refused,
// as a superseded one is, instead of a nil dereference that took the
// fill's goroutine, and the node, down.
func TestFillOrderStoreOutsideFillRefused(t *testing.T) {
	var o fillOrder
	set := func(bool) { t.Error("set ran for a store outside any fill") }
	if o.store("http://a.test/x", "http://a.test/x", "", 1, set) {
		t.Error("store before any fill began reported stored")
	}
	seq := o.begin("http://a.test/x")
	o.end("http://a.test/x")
	if o.store("http://a.test/x", "http://a.test/x", "", seq, set) {
		t.Error("store after the fill ended reported stored")
	}
}
