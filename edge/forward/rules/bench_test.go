package rules

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecide: a decision costs the same against a category of ten
// names as against one of a hundred thousand (one map probe per label of
// the host), and does not allocate.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprintf("list=%d", n), func(b *testing.B) {
			var list strings.Builder
			for i := range n {
				fmt.Fprintf(&list, "site%d.example\n", i)
			}
			path := writeList(b, b.TempDir(), "ads.txt", list.String())
			e := newEngine(b, Options{
				Categories: map[string]Category{"ads": {Files: []string{path}}},
				List: []Rule{
					{Name: "office", Action: ActionAllow, ClientNetworks: []string{"192.0.2.0/24"}},
					{Name: "no-ads", Action: ActionDeny, Categories: []string{"ads"},
						Time: &Window{Days: []string{"weekdays"}, From: "09:00", To: "17:00", Zone: "Europe/Berlin"}},
				},
				Limits: Limits{Rate: 1e9},
			})
			r := client()
			r.Host = "cdn.images.site7.example"
			b.ReportAllocs()
			for b.Loop() {
				e.Decide(r, monday10)
			}
		})
	}
}
