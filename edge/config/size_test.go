package config

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{"0", 0, false},
		{"4096", 4096, false},
		{"512B", 512, false},
		{"512KiB", 512 << 10, false},
		{"256MiB", 256 << 20, false},
		{"256mib", 256 << 20, false},
		{"10GiB", 10 << 30, false},
		{"2TiB", 2 << 40, false},
		{"10GB", 10e9, false},
		{"64kB", 64000, false},
		{"1.5GiB", 3 << 29, false},
		{" 8 MiB ", 8 << 20, false},
		{"", 0, true},
		{"12XB", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"1.2.3MiB", 0, true},
		{"99999999999TiB", 0, true},
		{"9223372036854775807", 9223372036854775807, false},
		{"9223372036854775808", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0"}, {1000, "1kB"}, {64 << 10, "64KiB"}, {256 << 20, "256MiB"}, {10 << 30, "10GiB"}, {3 << 40, "3TiB"}, {1536 << 10, "1536KiB"},
		// Decimal sizes as written, not as a count of bytes or KiB.
		{1e9, "1GB"}, {2e9, "2GB"}, {500e6, "500MB"}, {1000 << 10, "1000KiB"}, {1023, "1023"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		back, err := ParseByteSize(tt.in.String())
		if err != nil || back != tt.in {
			t.Errorf("round trip of %d: %d, %v", int64(tt.in), back, err)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{`"30s"`, 30 * time.Second, false},
		{`1m30s`, 90 * time.Second, false},
		{`0`, 0, false},
		{`30`, 0, true}, // a bare number would mean nanoseconds
		{`3x`, 0, true},
		{`[1s]`, 0, true},
	}
	for _, tt := range tests {
		var d Duration
		err := yaml.Unmarshal([]byte(tt.in), &d)
		if (err != nil) != tt.wantErr || d.Std() != tt.want {
			t.Errorf("unmarshal %s = %v, %v; want %v, err=%v", tt.in, d, err, tt.want, tt.wantErr)
		}
	}
	out, err := yaml.Marshal(struct{ D Duration }{Duration(90 * time.Second)})
	if err != nil || string(out) != "d: 1m30s\n" {
		t.Errorf("marshal = %q, %v", out, err)
	}
}
