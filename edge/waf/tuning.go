package waf

import (
	"fmt"
	"slices"
	"strings"

	"github.com/corazawaf/coraza/v3/types"
)

// The CRS as it ships costs Coraza about half a millisecond of CPU for a
// clean browser GET at paranoia level 1, spread over the ~300 rules it
// evaluates: no rule takes more than a few percent (docs/config.md). One
// change makes it cheaper without changing what any rule finds, and
// TestTuningFindsTheSame runs the CRS's own regression requests through the
// tuned and the shipped rule set, at paranoia levels 1 and 4, and requires
// the same rules to match with the same verdict for each.
//
// Rule 941010, for a path of only letters, digits, space and "/._-",
// removes REQUEST_FILENAME from the XSS rules tagged xss-perf-disable by
// ctl:ruleRemoveTargetByTag, which makes Coraza compare every tag of every
// rule on each such request: the costliest single rule of a clean GET. The
// tagged rules are exactly the rules numbered 941100 to 941400, so the
// rewrite removes the same target from the same rules by
// ctl:ruleRemoveTargetById with that range, under the same condition, with
// the same id and tags (exclusions by id or tag reach it as they reach the
// original). It is added after the CRS files; it still runs in phase 1,
// before any rule it changes (all in phase 2), and no skipAfter of phase 1
// jumps past the end of the rules. compile checks at start that the CRS
// still has these shapes (tunedRules.check), and refuses to start
// otherwise.
//
// Not used: Coraza's SecRxPreFilter (3.7+, "experimental"), which skips an
// @rx whose required literals an input lacks. On the CRS 4.25 corpus it
// let through requests the CRS catches: 942220's magic numbers
// (?i=2.2250738585072011e-308 passes at paranoia 1) and 932311's test 7 at
// paranoia 4 (found by TestTuningFindsTheSame with it on). In Coraza 3.8.1
// it skips 2(?:1474|.225) for the input "2.225", as if "21474" or "2225"
// were required: the "." before a branch's literal is lost.

// xssPerfRule replaces the CRS's rule 941010 (REQUEST-941-APPLICATION-ATTACK-XSS.conf).
const xssPerfRule = `SecRuleRemoveById 941010
SecRule REQUEST_FILENAME "!@validateByteRange 20,45-47,48-57,65-90,95,97-122" \
    "id:941010,phase:1,pass,t:none,nolog,tag:'OWASP_CRS',tag:'OWASP_CRS/ATTACK-XSS',\
    ctl:ruleRemoveTargetById=941100-941400;REQUEST_FILENAME"
`

const (
	xssPerfTag          = "xss-perf-disable"
	xssPerfFirst        = 941100
	xssPerfLast         = 941400
	xssPerfOriginalCond = `"!@validateByteRange 20,45-47,48-57,65-90,95,97-122"`
	xssPerfOriginalCtl  = "ctl:ruleRemoveTargetByTag=xss-perf-disable;REQUEST_FILENAME"
)

// tunedRules records, while the rule set is compiled, what the tuning
// relies on: the CRS's own 941010 and the rules tagged xss-perf-disable.
type tunedRules struct {
	original941010 string // the first 941010 parsed: the CRS's
	tagged         []int  // rules tagged xss-perf-disable
	inRange        []int  // rules numbered 941100 to 941400
}

func (t *tunedRules) observe(r types.RuleMetadata) {
	id := r.ID()
	if id == 941010 && t.original941010 == "" {
		t.original941010 = r.Raw()
	}
	if slices.Contains(r.Tags(), xssPerfTag) {
		t.tagged = append(t.tagged, id)
	}
	if id >= xssPerfFirst && id <= xssPerfLast {
		t.inRange = append(t.inRange, id)
	}
}

// check reports whether the rewrite of 941010 is still exact.
func (t *tunedRules) check() error {
	if !strings.Contains(t.original941010, xssPerfOriginalCond) || !strings.Contains(t.original941010, xssPerfOriginalCtl) {
		return fmt.Errorf("rule 941010 is %q, want the condition %s and %s", t.original941010, xssPerfOriginalCond, xssPerfOriginalCtl)
	}
	slices.Sort(t.tagged)
	slices.Sort(t.inRange)
	if len(t.tagged) == 0 || !slices.Equal(t.tagged, t.inRange) {
		return fmt.Errorf("the rules tagged %s (%v) are not the rules %d to %d (%v)", xssPerfTag, t.tagged, xssPerfFirst, xssPerfLast, t.inRange)
	}
	return nil
}
