package settingsdiff

import (
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	var none Diff
	none.Add(false, "replicas", 1, 1)
	if got := none.String(); got != "" {
		t.Errorf("no difference: %q, want \"\"", got)
	}
	var d Diff
	d.Add(true, "max_age", 168*time.Hour, time.Hour)
	d.Add(false, "storage", "file", "file")
	d.Add(true, "subjects", []string{"a"}, []string{"b"})
	if got, want := d.String(), "max_age 168h0m0s (this node: 1h0m0s), subjects [a] (this node: [b])"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
