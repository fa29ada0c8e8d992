package waf

import "testing"

// BenchmarkInspect is one clean browser GET through the CRS at paranoia 1,
// with the rule set edged runs (tuned) and the one that ships: their ratio
// is what the tuning saves (see tuning.go).
func BenchmarkInspect(b *testing.B) {
	o := Options{Mode: ModeBlock}
	for _, c := range []struct {
		name string
		w    *WAF
	}{{"tuned", mustWAF(b, o)}, {"shipped", mustShipped(b, o)}} {
		b.Run(c.name, func(b *testing.B) {
			r := browserGet("/products/shoes?color=blue&size=42")
			b.ReportAllocs()
			for b.Loop() {
				if v := c.w.Inspect(r, "bench", client, nil); v.Action != Pass {
					b.Fatal(v.Action)
				}
			}
		})
	}
}
