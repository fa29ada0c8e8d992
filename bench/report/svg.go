package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// palette colors targets in order; edged's variants come last in a run
// and get the warm colors.
var palette = []string{"#7f7f7f", "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"}

// chart geometry
const (
	chartW  = 1100
	panelH  = 300
	marginL = 80
	marginR = 20
	legendH = 50
	labelH  = 60
)

// panel is one metric drawn for every scenario and target.
type panel struct {
	title string
	value func(Row) (med, lo, hi float64, ok bool)
	unit  string
}

// SVG renders throughput and p99 per target and scenario as a grouped bar
// chart (whiskers: min–max over repetitions). Skipped targets leave a gap.
func (r Report) SVG() string {
	scenarios, targets := r.Scenarios(), r.Targets()
	panels := []panel{
		{"Throughput (requests/s, higher is better)", func(row Row) (float64, float64, float64, bool) {
			return row.RPS.Median, row.RPS.Min, row.RPS.Max, row.Skipped == "" && row.RPS.Valid()
		}, "req/s"},
		{"p99 latency (ms, lower is better)", func(row Row) (float64, float64, float64, bool) {
			return row.P99.Median, row.P99.Min, row.P99.Max, row.Skipped == "" && row.P99.Valid()
		}, "ms"},
	}
	height := legendH + len(panels)*(panelH+labelH) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		chartW, height, chartW, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="16" font-size="14" font-weight="bold">edged side-by-side benchmarks (%s, %d cores)</text>`+"\n",
		marginL, esc(r.Machine.Mode), r.Machine.NProc)
	for i, t := range targets {
		x := marginL + i*140
		fmt.Fprintf(&b, `<rect x="%d" y="28" width="12" height="12" fill="%s"/><text x="%d" y="38">%s</text>`+"\n",
			x, color(i), x+16, esc(t))
	}
	for pi, p := range panels {
		top := legendH + pi*(panelH+labelH)
		r.drawPanel(&b, p, top, scenarios, targets)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func (r Report) drawPanel(b *strings.Builder, p panel, top int, scenarios, targets []string) {
	plotW := chartW - marginL - marginR
	plotTop, plotH := top+20, panelH-20
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", marginL, top+12, esc(p.title))
	maxV := 0.0
	for _, row := range r.Rows {
		if _, _, hi, ok := p.value(row); ok {
			maxV = math.Max(maxV, hi)
		}
	}
	maxV = niceCeil(maxV)
	y := func(v float64) float64 { return float64(plotTop+plotH) - v/maxV*float64(plotH) }
	// Axis with five gridlines.
	for i := 0; i <= 4; i++ {
		v := maxV * float64(i) / 4
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			marginL, marginL+plotW, y(v), y(v), marginL-6, y(v)+4, short(v))
	}
	if len(scenarios) == 0 {
		return
	}
	groupW := float64(plotW) / float64(len(scenarios))
	barW := groupW * 0.8 / float64(max(len(targets), 1))
	for si, sc := range scenarios {
		gx := float64(marginL) + float64(si)*groupW + groupW*0.1
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", gx+groupW*0.4, plotTop+plotH+16, esc(sc))
		for ti, t := range targets {
			row, ok := r.Find(sc, t)
			if !ok {
				continue
			}
			med, lo, hi, ok := p.value(row)
			if !ok {
				continue
			}
			x := gx + float64(ti)*barW
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s %s</title></rect>`+"\n",
				x, y(med), barW-1, y(0)-y(med), color(ti), esc(t), esc(sc), short(med), p.unit)
			cx := x + (barW-1)/2
			fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, cx, y(lo), y(hi))
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="8" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
				cx+3, y(hi)-3, cx+3, y(hi)-3, short(med))
		}
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>`+"\n", marginL, marginL+plotW, plotTop+plotH, plotTop+plotH)
}

func color(i int) string { return palette[i%len(palette)] }

func esc(s string) string { return html.EscapeString(s) }

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// short formats v compactly: 1234567 → 1.23M, 45200 → 45.2k, 0.123 → 0.123.
func short(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
