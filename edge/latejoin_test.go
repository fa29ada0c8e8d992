package edge

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// Requests that missed while a flight ran, and reach the flights only after
// it ended, are answered from what it stored, not by a second fetch: 1000
// clients of one cold key on 2 cores made 2 origin fetches now and then
// (#17), as requests that had looked the key up waited for a CPU while the
// flight stored the object and left. The late requests are held between
// their lookup and their join (flights.beforeJoin) until the flight is over.
func TestLateJoinersServeWhatTheFlightStored(t *testing.T) {
	c := newClock()
	release := newGate()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		release.wait()
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "cold")
	})
	t.Cleanup(release.open) // runs before the origin closes, so a failing test cannot hang
	e := newEdge(t, c, edgeConfig{upstream: o.URL})

	// late stays below the client's fetch slots (defaultFillsPerClient):
	// each late request holds one while the hook holds it.
	const late = 16
	var joins atomic.Int64
	arrived := make(chan struct{}, late)
	proceed := newGate()
	t.Cleanup(proceed.open)
	hook := func() {
		if joins.Add(1) == 1 {
			return // the leader, which starts the flight
		}
		arrived <- struct{}{}
		proceed.wait()
	}
	e.handler.flights.beforeJoin.Store(&hook)

	type result struct {
		status int
		body   string
		hit    bool
		err    error
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: late + 1}}
	defer client.CloseIdleConnections()
	get := func(out chan<- result) {
		resp, err := client.Get(e.URL + "/cold")
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- result{status: resp.StatusCode, body: string(b), hit: isHit(resp), err: err}
	}
	check := func(who string, res result) {
		t.Helper()
		if res.err != nil || res.status != http.StatusOK || res.body != "cold" {
			t.Errorf("%s: status %d, body %q, err %v; want 200 %q", who, res.status, res.body, res.err, "cold")
		}
	}

	leader := make(chan result, 1)
	go get(leader)
	waitFor(t, func() bool { return o.requests.Load() == 1 }) // the flight is under way
	// Each late request looks the key up while the flight runs (a miss:
	// nothing is stored yet) and is held before it joins.
	lates := make(chan result, late)
	for range late {
		go get(lates)
	}
	for range late {
		<-arrived
	}
	release.open()
	// The leader is answered once its flight has ended: stored, and gone
	// from the flights.
	check("leader", <-leader)
	proceed.open()
	for range late {
		res := <-lates
		check("late request", res)
		if !res.hit {
			t.Error("a late request was not answered from the store")
		}
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1: late requests fetched the object again", n)
	}
}
