package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func counter(name string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: name + " help"})
}

func TestAllRegistersEveryCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := counter("a_total"), counter("b_total")
	if err := All(reg, a, b); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 2 {
		t.Errorf("gathered %d series, %v; want 2", n, err)
	}
	if err := All(nil, counter("c_total")); err != nil {
		t.Errorf("nil registerer: %v", err)
	}
}

// A failure leaves the registry as it was: the collectors registered before
// the failing one are taken back.
func TestAllIsAllOrNothing(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(counter("taken_total")); err != nil {
		t.Fatal(err)
	}
	first := counter("first_total")
	if err := All(reg, first, counter("taken_total"), counter("last_total")); err == nil {
		t.Fatal("registering a name twice succeeded")
	}
	if n, _ := testutil.GatherAndCount(reg); n != 1 {
		t.Errorf("%d series after a failed All, want only the one registered before", n)
	}
	if err := reg.Register(first); err != nil {
		t.Errorf("first was left registered: %v", err)
	}
}

func TestSharedReturnsTheRegisteredVector(t *testing.T) {
	reg := prometheus.NewRegistry()
	vec := func() *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "req_total", Help: "h"}, []string{"pool"})
	}
	one, err := Shared(reg, vec())
	if err != nil {
		t.Fatal(err)
	}
	two, err := Shared(reg, vec())
	if err != nil {
		t.Fatal(err)
	}
	if one != two {
		t.Error("the second pool got a vector of its own, which the registry does not gather")
	}
	if _, err := Shared(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "req_total", Help: "other"}, []string{"pool"})); err == nil {
		t.Error("a different collector under the same name was accepted")
	}
}
