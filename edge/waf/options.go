package waf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"edged/internal/fielderr"
)

// Mode says what the WAF does with what the rules find.
type Mode string

const (
	// ModeOff inspects nothing; the zero value means off too.
	ModeOff Mode = "off"
	// ModeDetect runs the rules, logs and counts what they find, and lets
	// every request through.
	ModeDetect Mode = "detect"
	// ModeBlock refuses a request the rules find an attack in with 403.
	ModeBlock Mode = "block"
)

// BodyAction says what happens to a request body longer than
// Options.RequestBodyLimit.
type BodyAction string

const (
	// BodyReject refuses it with 413 in block mode (detect mode inspects
	// its first bytes instead: it never refuses). The zero value means
	// BodyReject.
	BodyReject BodyAction = "reject"
	// BodyInspectPartial inspects its first RequestBodyLimit bytes and
	// passes the rest uninspected.
	BodyInspectPartial BodyAction = "inspect_partial"
)

const (
	// DefaultRequestBodyLimit is Options.RequestBodyLimit's default: what
	// Coraza's recommended configuration keeps in memory.
	DefaultRequestBodyLimit = 128 << 10
	// MaxRequestBodyLimit bounds Options.RequestBodyLimit: each request
	// under inspection may hold that much memory.
	MaxRequestBodyLimit = 64 << 20
)

// Options are one WAF's settings.
type Options struct {
	// Mode is off, detect or block; "" means off.
	Mode Mode
	// ParanoiaLevel is the CRS paranoia level, 1 to 4: each level adds
	// rules that catch more and misfire more on legitimate traffic. 0
	// means 1.
	ParanoiaLevel int
	// Exclusions remove rules that misfire on a site's legitimate
	// traffic, everywhere or under a path.
	Exclusions []Exclusion
	// RequestBodyLimit is how many bytes of a request body are read and
	// inspected; 0 means DefaultRequestBodyLimit, at most
	// MaxRequestBodyLimit.
	RequestBodyLimit int64
	// OversizeBody is what happens to a longer body; "" means BodyReject.
	OversizeBody BodyAction
}

// Exclusion removes rules by id.
type Exclusion struct {
	// RuleIDs are the ids of the rules removed (CRS ids: 942100, ...).
	RuleIDs []int
	// PathPrefix, when set, removes them only for requests whose path,
	// percent-decoded and with dot segments removed, starts with it; ""
	// removes them everywhere.
	PathPrefix string
}

// withDefaults fills what the zero value leaves to a default.
func (o Options) withDefaults() Options {
	if o.Mode == "" {
		o.Mode = ModeOff
	}
	if o.ParanoiaLevel == 0 {
		o.ParanoiaLevel = 1
	}
	if o.RequestBodyLimit == 0 {
		o.RequestBodyLimit = DefaultRequestBodyLimit
	}
	if o.OversizeBody == "" {
		o.OversizeBody = BodyReject
	}
	return o
}

// Validate checks the options; problems are [*fielderr.Error] values naming
// the field ("ParanoiaLevel", "Exclusions[1].RuleIDs[0]").
func (o Options) Validate() error {
	var l fielderr.List
	switch o.Mode {
	case "", ModeOff, ModeDetect, ModeBlock:
	default:
		l.Addf("Mode", "must be off, detect or block, got %q", o.Mode)
	}
	l.Check(o.ParanoiaLevel >= 0 && o.ParanoiaLevel <= 4, "ParanoiaLevel", "must be 1 to 4, got %d", o.ParanoiaLevel)
	l.Check(o.RequestBodyLimit >= 0 && o.RequestBodyLimit <= MaxRequestBodyLimit, "RequestBodyLimit",
		"must be 1 to %d bytes, got %d", MaxRequestBodyLimit, o.RequestBodyLimit)
	switch o.OversizeBody {
	case "", BodyReject, BodyInspectPartial:
	default:
		l.Addf("OversizeBody", "must be reject or inspect_partial, got %q", o.OversizeBody)
	}
	for i, e := range o.Exclusions {
		p := fmt.Sprintf("Exclusions[%d]", i)
		l.Check(len(e.RuleIDs) > 0, p+".RuleIDs", "required: the ids of the rules to remove")
		for j, id := range e.RuleIDs {
			// SecLang rule ids are positive; the CRS's are six digits.
			l.Check(id > 0, fmt.Sprintf("%s.RuleIDs[%d]", p, j), "must be a positive rule id, got %d", id)
		}
		if e.PathPrefix != "" {
			l.Check(validPathPrefix(e.PathPrefix), p+".PathPrefix",
				"must start with / and hold no spaces, quotes, backslashes or control characters, got %q", e.PathPrefix)
		}
	}
	return l.Err()
}

// validPathPrefix accepts a path that can stand inside a quoted SecLang
// operator argument as it is.
func validPathPrefix(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '\\' || c == ',' {
			return false
		}
	}
	return true
}

// key is the same string for options that compile to the same WAF.
func (o Options) key() string {
	o = o.withDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%d|%d|%s", o.Mode, o.ParanoiaLevel, o.RequestBodyLimit, o.OversizeBody)
	for _, e := range o.Exclusions {
		ids := slices.Clone(e.RuleIDs)
		slices.Sort(ids)
		b.WriteString("|" + e.PathPrefix + ":")
		for _, id := range ids {
			b.WriteString(strconv.Itoa(id) + ",")
		}
	}
	return b.String()
}
