package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edged/edge/accesslog"
)

const accessBase = "upstream:\n  origin: http://127.0.0.1:9000\n"

// log.access takes a mapping over the defaults, or true and false as
// before it was one.
func TestAccessLogForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want AccessLog
	}{
		{"log: {access: true}\n", defaultAccessLog()},
		{"log: {access: false}\n", AccessLog{Off: true, Format: "json", Buffer: 64 << 10, Flush: Duration(time.Second)}},
		{"log:\n  access:\n    format: combined\n    file: /var/log/edged/access.log\n    buffer: 1MiB\n    flush: 5s\n",
			AccessLog{Format: "combined", File: "/var/log/edged/access.log", Buffer: 1 << 20, Flush: Duration(5 * time.Second)}},
		{"log: {access: {off: true}}\n", AccessLog{Off: true, Format: "json", Buffer: 64 << 10, Flush: Duration(time.Second)}},
	} {
		c, err := Parse([]byte(tc.in+accessBase), "edged.yaml")
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if c.Log.Access != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.in, c.Log.Access, tc.want)
		}
	}
	c, _ := Parse([]byte("log: {access: {format: combined, buffer: 8KiB, flush: 250ms}}\n"+accessBase), "edged.yaml")
	if got, want := c.AccessLogOptions(), (accesslog.Options{Format: accesslog.Combined, BufferBytes: 8 << 10, FlushInterval: 250 * time.Millisecond}); got != want {
		t.Errorf("AccessLogOptions = %+v, want %+v", got, want)
	}
}

// Each bad value is named with its field and line.
func TestAccessLogErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"log:\n  access:\n    format: xml\n", `edged.yaml:3: log.access.format: must be json or combined, got "xml"`},
		{"log:\n  access:\n    format: ''\n", `edged.yaml:3: log.access.format: must be json or combined, got ""`},
		{"log:\n  access:\n    buffer: 100\n", `edged.yaml:3: log.access.buffer: must be between 4KiB and 16MiB, got 100 bytes`},
		{"log:\n  access:\n    flush: 0s\n", `edged.yaml:3: log.access.flush: must be positive and at most 1h, got 0s`},
		{"log:\n  access:\n    flsh: 1s\n", `edged.yaml:3: unknown field "flsh" in log.access`},
		{"log:\n  access: maybe\n", `edged.yaml:2: log.access: want true or false, got "maybe"`},
		{"log:\n  access: [1]\n", `edged.yaml:2: log.access: want true, false or a mapping of fields, got a list`},
	} {
		c, err := Parse([]byte(tc.in+accessBase), "edged.yaml")
		if c != nil {
			err = c.Validate() // the problems Parse found, and the values'
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

// Check names a log file whose directory is missing; Validate does not
// look at the file system.
func TestAccessLogFileChecked(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope", "access.log")
	c, err := Parse([]byte("log:\n  access:\n    file: "+missing+"\n"+accessBase), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if err := c.Check(); err == nil || !strings.Contains(err.Error(), "edged.yaml:3: log.access.file: the directory of") {
		t.Errorf("Check = %v, want log.access.file named", err)
	}
	if err := os.MkdirAll(filepath.Dir(missing), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(); err != nil {
		t.Errorf("Check with the directory made: %v", err)
	}
}
