package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"edged/edge/waf"
)

// wafYAML gives two routes the same WAF settings and a third its own.
// Line numbers matter: the error tests replace line 9 or 10.
const wafYAML = `upstream:
  origin: http://127.0.0.1:9000
sites:
  - name: shop
    hosts: [shop.example]
    routes:
      - path: /
        waf:
          mode: block
          paranoia_level: 1
          exclusions: [{rule_ids: [942100], path: /search/}]
      - path: /account/
        waf: {mode: block, paranoia_level: 1, exclusions: [{rule_ids: [942100], path: /search/}]}
      - path: /api/
        waf: {mode: detect, paranoia_level: 2, request_body_limit: 1MiB, oversize_body: inspect_partial}
      - path: /static/
`

func TestEdgeSitesWAF(t *testing.T) {
	c := parseValid(t, wafYAML)
	sites, err := testSites(t, c)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]*waf.WAF{}
	for _, r := range sites[0].Routes {
		byPath[r.PathPrefix] = r.WAF
	}
	if byPath["/"] == nil || byPath["/"] != byPath["/account/"] {
		t.Errorf("routes with equal waf settings got %p and %p, want one shared WAF", byPath["/"], byPath["/account/"])
	}
	if byPath["/static/"] != nil {
		t.Errorf("a route without waf got one")
	}
	want := waf.Options{Mode: waf.ModeDetect, ParanoiaLevel: 2, RequestBodyLimit: 1 << 20, OversizeBody: waf.BodyInspectPartial}
	if got := byPath["/api/"].Options(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("/api/ options %+v, want %+v", got, want)
	}
	if got := byPath["/"].Options().Exclusions; len(got) != 1 || got[0].PathPrefix != "/search/" || got[0].RuleIDs[0] != 942100 {
		t.Errorf("exclusions %+v", got)
	}
}

func TestWAFConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		line       int
		repl, want string
	}{
		{9, "          mode: on", `edged.yaml:9: sites[0].routes[0].waf.mode: must be off, detect or block, got "on"`},
		{10, "          paranoia_level: 5", "edged.yaml:10: sites[0].routes[0].waf.paranoia_level: must be 1 to 4, got 5"},
		{10, "          request_body_limit: 1GiB", "edged.yaml:10: sites[0].routes[0].waf.request_body_limit: must be 1 to 67108864 bytes"},
		{10, "          oversize_body: drop", `edged.yaml:10: sites[0].routes[0].waf.oversize_body: must be reject or inspect_partial, got "drop"`},
		{11, "          exclusions: [{path: /a/}]", "edged.yaml:11: sites[0].routes[0].waf.exclusions[0].rule_ids: required"},
		{11, "          exclusions: [{rule_ids: [1, -3]}]", "edged.yaml:11: sites[0].routes[0].waf.exclusions[0].rule_ids[1]: must be a positive rule id, got -3"},
		{11, `          exclusions: [{rule_ids: [1], path: 'a"b'}]`, `edged.yaml:11: sites[0].routes[0].waf.exclusions[0].path: must start with /`},
		{10, "          paranoia: 2", `edged.yaml:10: unknown field "paranoia" in sites[0].routes[0].waf`},
	} {
		lines := strings.Split(wafYAML, "\n")
		lines[tt.line-1] = tt.repl
		c, err := Parse([]byte(strings.Join(lines, "\n")), "edged.yaml")
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("line %d %q: error %v\nwant it to contain %q", tt.line, tt.repl, err, tt.want)
		}
		var fe *FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("error %T is not a *FieldError", err)
		}
	}
}
