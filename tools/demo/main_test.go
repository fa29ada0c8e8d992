package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestPlan(t *testing.T) {
	tests := []struct {
		shield    bool
		wantNames []string
		wantData  []string // -data of each edged
	}{
		{false, []string{"demo-origin", "edged"}, []string{"d"}},
		{true, []string{"demo-origin", "edged-shield", "edged"}, []string{"d/shield", "d/edge"}},
	}
	for _, tt := range tests {
		children := plan("/b", "d", tt.shield)
		var names, data []string
		for _, c := range children {
			names = append(names, c.name)
			if !strings.HasPrefix(c.path, "/b/") {
				t.Errorf("%s path %q not in -bin", c.name, c.path)
			}
			for i, a := range c.args {
				if a == "-data" {
					data = append(data, c.args[i+1])
				}
			}
		}
		if !reflect.DeepEqual(names, tt.wantNames) || !reflect.DeepEqual(data, tt.wantData) {
			t.Errorf("shield=%v: names %v data %v, want %v %v", tt.shield, names, data, tt.wantNames, tt.wantData)
		}
		if got := dataDir(children); got != "d" {
			t.Errorf("shield=%v: dataDir = %q, want d", tt.shield, got)
		}
	}
	// The shield demo's nodes share one purge bus: the shield's NATS.
	sh := plan("/b", "d", true)
	if !strings.Contains(sh[1].configYAML, "listen: "+shieldNATSAddr) || !strings.Contains(sh[2].configYAML, "url: nats://"+shieldNATSAddr) {
		t.Errorf("shield config %q, edge config %q: not one bus", sh[1].configYAML, sh[2].configYAML)
	}
	// The edge of the shield demo fetches through the shield.
	edge := plan("/b", "d", true)[2]
	if !strings.Contains(strings.Join(edge.args, " "), "-shield http://"+shieldAddr) {
		t.Errorf("edge args %v", edge.args)
	}
}
