package waf

import "testing"

// BenchmarkInspect is one clean browser GET through the CRS at paranoia 1.
func BenchmarkInspect(b *testing.B) {
	w := mustWAF(b, Options{Mode: ModeBlock})
	r := browserGet("/products/shoes?color=blue&size=42")
	b.ReportAllocs()
	for b.Loop() {
		if v := w.Inspect(r, "bench", client, nil); v.Action != Pass {
			b.Fatal(v.Action)
		}
	}
}
