package report

import (
	"fmt"
	"math"
)

// AtLeast checks got ≥ want (higher is better), e.g. a throughput ratio.
// A miss says how far below the goal got is, in percent of the goal.
func AtLeast(name, goal string, got, want float64, format string) Check {
	c := Check{Name: name, Goal: goal, Got: fmt.Sprintf(format, got)}
	if math.IsNaN(got) {
		c.Skipped = "not measured"
		return c
	}
	c.Met = got >= want
	if !c.Met {
		c.Miss = fmt.Sprintf("short by "+format+", %.0f%% below the goal", want-got, pct(want-got, want))
	}
	return c
}

// AtMost checks got ≤ want (lower is better), e.g. a latency.
func AtMost(name, goal string, got, want float64, format string) Check {
	c := Check{Name: name, Goal: goal, Got: fmt.Sprintf(format, got)}
	if math.IsNaN(got) {
		c.Skipped = "not measured"
		return c
	}
	c.Met = got <= want
	if !c.Met {
		c.Miss = fmt.Sprintf("over by "+format+", %.0f%% above the goal", got-want, pct(got-want, want))
	}
	return c
}

// Below checks got < want strictly.
func Below(name, goal string, got, want float64, format string) Check {
	c := AtMost(name, goal, got, want, format)
	if c.Skipped == "" && got == want {
		c.Met = false
		c.Miss = "equal to the bound, which must not be reached"
	}
	return c
}

// Skip is a check that could not be measured, with the reason.
func Skip(name, goal, reason string) Check {
	return Check{Name: name, Goal: goal, Got: "–", Skipped: reason}
}

func pct(d, base float64) float64 {
	if base == 0 {
		return math.Inf(1)
	}
	return 100 * d / math.Abs(base)
}
