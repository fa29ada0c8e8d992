package fielderr

import (
	"errors"
	"testing"
)

var errSentinel = errors.New("sentinel")

func TestListNestPrefixAll(t *testing.T) {
	var inner List
	inner.Addf("Interval", "must be positive, got %v", 0)
	inner.Wrapf("Level", errSentinel, "must be 1 to 9")
	var outer List
	outer.Check(false, "Servers[1].URL", "no host")
	outer.Check(true, "Name", "never added")
	outer.Nest("Health", inner.Err())
	err := Prefix("origin: option ", outer.Err())

	want := "origin: option Servers[1].URL: no host\n" +
		"origin: option Health.Interval: must be positive, got 0\n" +
		"origin: option Health.Level: must be 1 to 9"
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
	var paths []string
	for _, fe := range All(err) {
		paths = append(paths, fe.Path)
	}
	if len(paths) != 3 || paths[0] != "Servers[1].URL" || paths[1] != "Health.Interval" || paths[2] != "Health.Level" {
		t.Errorf("All paths = %q", paths)
	}
	if !errors.Is(err, errSentinel) {
		t.Error("the sentinel is lost through Nest and Prefix")
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Path != "Servers[1].URL" {
		t.Errorf("errors.As = %v", fe)
	}
	if (&List{}).Err() != nil || All(nil) != nil {
		t.Error("an empty list is not nil")
	}
}

func TestJoin(t *testing.T) {
	for _, tt := range []struct{ prefix, path, want string }{
		{"", "A", "A"}, {"A", "", "A"}, {"A", "B", "A.B"}, {"A", "[1]", "A[1]"}, {"A[1]", "B", "A[1].B"},
	} {
		if got := Join(tt.prefix, tt.path); got != tt.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tt.prefix, tt.path, got, tt.want)
		}
	}
}
