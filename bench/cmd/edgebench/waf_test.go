package main

import (
	"testing"

	"edged/bench/targets"
	"edged/edge/config"
)

// The WAF target's file is one edged accepts, and its route has the WAF on.
func TestWAFTargetConfig(t *testing.T) {
	e := targets.Edged{Listen: "127.0.0.1:1", Admin: "127.0.0.1:2", Origin: "http://127.0.0.1:3", Data: t.TempDir(), Extra: wafSite}
	yaml, err := e.Render()
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse([]byte(yaml), "edged-waf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if w := c.Sites[0].Routes[0].WAF; w.Mode != "block" || w.ParanoiaLevel != 1 {
		t.Errorf("waf = %+v, want block at paranoia 1", w)
	}
}
