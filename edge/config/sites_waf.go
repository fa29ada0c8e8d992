package config

import (
	"fmt"
	"slices"

	"edged/edge"
	"edged/edge/waf"
)

// WAF is a route's web application firewall (edge/waf): Coraza with the
// OWASP Core Rule Set. Off when left out.
type WAF struct {
	// Mode is off (the default), detect (log and pass) or block (403).
	Mode string `yaml:"mode"`
	// ParanoiaLevel is the CRS paranoia level, 1 to 4; 0 means 1.
	ParanoiaLevel int `yaml:"paranoia_level"`
	// Exclusions remove rules that misfire on the site's traffic.
	Exclusions []WAFExclusion `yaml:"exclusions"`
	// RequestBodyLimit is how much of a request body is inspected; 0 means
	// 128KiB.
	RequestBodyLimit ByteSize `yaml:"request_body_limit"`
	// OversizeBody is reject (413 in block mode, the default) or
	// inspect_partial (the first request_body_limit bytes).
	OversizeBody string `yaml:"oversize_body"`
}

// WAFExclusion removes rules by id, everywhere or under a path.
type WAFExclusion struct {
	RuleIDs []int `yaml:"rule_ids"`
	// Path, when set, limits the exclusion to paths under it.
	Path string `yaml:"path"`
}

// options are the WAF's options as edge/waf takes them.
func (w WAF) options() waf.Options {
	o := waf.Options{Mode: waf.Mode(w.Mode), ParanoiaLevel: w.ParanoiaLevel,
		RequestBodyLimit: int64(w.RequestBodyLimit), OversizeBody: waf.BodyAction(w.OversizeBody)}
	for _, e := range w.Exclusions {
		o.Exclusions = append(o.Exclusions, waf.Exclusion{RuleIDs: slices.Clone(e.RuleIDs), PathPrefix: e.Path})
	}
	return o
}

// checkWAF validates the WAF of the route at path with
// waf.Options.Validate, each problem at its YAML field.
func (c *Config) checkWAF(path string, w WAF) []*FieldError {
	m := yamlMap{under: path, fields: map[string]string{}}
	for i := range w.Exclusions {
		ep := fmt.Sprintf("Exclusions[%d]", i)
		m.fields[ep+".RuleIDs"] = fmt.Sprintf("%s.exclusions[%d].rule_ids", path, i)
		m.fields[ep+".PathPrefix"] = fmt.Sprintf("%s.exclusions[%d].path", path, i)
	}
	return c.optionProblems(m, w.options().Validate())
}

// addWAFs gives each route of the sites its WAF, compiled once per
// distinct settings in wafs (a CRS compile costs time and memory: routes
// with equal settings share one). A compile error is a FieldError at the
// route's waf.
func (c *Config) addWAFs(sites []*edge.Site, wafs *waf.Set) error {
	for i, s := range c.Sites {
		for j, r := range s.Routes {
			w, err := wafs.WAF(r.WAF.options())
			if err != nil {
				return c.fieldErrNear(fmt.Sprintf("sites[%d].routes[%d].waf", i, j), "%v", err)
			}
			sites[i].Routes[j].WAF = w
		}
	}
	return nil
}
