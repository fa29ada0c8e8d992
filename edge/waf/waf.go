package waf

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"

	"edged/internal/fielderr"
)

// WAF is one compiled rule set with its options.
type WAF struct {
	opts Options
	waf  coraza.WAF
}

// New validates opts and compiles the Core Rule Set with them. Mode off
// compiles nothing and returns a nil *WAF, which passes every request.
func New(opts Options) (*WAF, error) {
	if err := opts.Validate(); err != nil {
		return nil, fielderr.Prefix("waf: option ", err)
	}
	opts = opts.withDefaults()
	if opts.Mode == ModeOff {
		return nil, nil
	}
	w, err := compile(opts, true)
	if err != nil {
		return nil, err
	}
	return &WAF{opts: opts, waf: w}, nil
}

// compile compiles the CRS for opts, tuned (see tuning) or as it ships.
func compile(opts Options, tuned bool) (coraza.WAF, error) {
	var seen tunedRules
	cfg := coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives(opts, tuned))
	cfg = experimental.WAFConfigWithRuleObserver(cfg, seen.observe)
	w, err := coraza.NewWAF(cfg)
	if err != nil {
		return nil, fmt.Errorf("waf: compile the core rule set: %w", err)
	}
	if tuned {
		if err := seen.check(); err != nil {
			return nil, fmt.Errorf("waf: the core rule set is not the one the tuning was made for: %w", err)
		}
	}
	return w, nil
}

// Options are the options w was compiled with, defaults filled in.
func (w *WAF) Options() Options { return w.opts }

// pathExclusionBase is the id of the first rule that Exclusions with a
// PathPrefix become; the CRS keeps 900000-999999 for itself.
const pathExclusionBase = 10000

// directives is the SecLang configuration for opts: Coraza's recommended
// base, then edged's settings over it, the CRS setup, the paranoia level,
// the path-scoped exclusions (before the rules they remove run), the CRS
// rules, the tuning when tuned, and the global exclusions (after the rules
// they remove exist, so that they remove the tuned 941010 too).
func directives(o Options, tuned bool) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("Include @coraza.conf-recommended")
	engine := "DetectionOnly"
	if o.Mode == ModeBlock {
		engine = "On"
	}
	line("SecRuleEngine %s", engine)
	line("SecRequestBodyAccess On")
	// Inspect reads at most RequestBodyLimit bytes and decides itself what
	// a longer body gets; Coraza's own limit sits one byte above, so that
	// it never counts a body of exactly the limit as too long, and its
	// in-memory limit with it, so that it never writes a temporary file.
	line("SecRequestBodyLimit %d", o.RequestBodyLimit+1)
	line("SecRequestBodyInMemoryLimit %d", o.RequestBodyLimit+1)
	line("SecRequestBodyLimitAction ProcessPartial")
	line("SecResponseBodyAccess Off")
	line("SecAuditEngine Off")
	line("Include @crs-setup.conf.example")
	// crs-setup.conf.example leaves rule 900000 commented out for the
	// user to set; REQUEST-901 sets what it leaves unset (detection
	// paranoia follows blocking paranoia).
	line(`SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d"`, o.ParanoiaLevel)
	for i, e := range o.Exclusions {
		if e.PathPrefix == "" {
			continue
		}
		// ctl:ruleRemoveById removes the rules for this transaction only.
		// The path is decoded and its dot segments removed first, so
		// "/search/../admin" is not under "/search/".
		line(`SecRule REQUEST_FILENAME "@beginsWith %s" "id:%d,phase:1,pass,nolog,t:none,t:urlDecodeUni,t:normalizePath,%s"`,
			e.PathPrefix, pathExclusionBase+i, ctlRemove(e.RuleIDs))
	}
	line("Include @owasp_crs/*.conf")
	if tuned {
		b.WriteString(xssPerfRule)
	}
	for _, e := range o.Exclusions {
		if e.PathPrefix == "" {
			line("SecRuleRemoveById %s", joinIDs("", e.RuleIDs, " "))
		}
	}
	return b.String()
}

// ctlRemove is the ctl actions that remove rules ruleIDs at run time.
func ctlRemove(ruleIDs []int) string {
	return joinIDs("ctl:ruleRemoveById=", ruleIDs, ",")
}

// joinIDs writes each id after prefix, joined by sep.
func joinIDs(prefix string, ruleIDs []int, sep string) string {
	parts := make([]string, len(ruleIDs))
	for i, id := range ruleIDs {
		parts[i] = prefix + strconv.Itoa(id)
	}
	return strings.Join(parts, sep)
}

// Set compiles each distinct Options once: routes with equal options share
// one *WAF. The zero value is ready to use; it is safe for concurrent use.
type Set struct {
	mu   sync.Mutex      // guards wafs
	wafs map[string]*WAF // by Options.key
}

// WAF returns the WAF for opts, compiling it on first use (see [New]).
func (s *Set) WAF(opts Options) (*WAF, error) {
	key := opts.key()
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.wafs[key]; ok {
		return w, nil
	}
	w, err := New(opts)
	if err != nil {
		return nil, err
	}
	if s.wafs == nil {
		s.wafs = make(map[string]*WAF)
	}
	s.wafs[key] = w
	return w, nil
}

// Len is how many WAFs the set compiled (mode off counts none).
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, w := range s.wafs {
		if w != nil {
			n++
		}
	}
	return n
}
