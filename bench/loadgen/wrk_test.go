package loadgen

import (
	"errors"
	"testing"
	"time"
)

const wrkReport = `Running 3s test @ http://127.0.0.1:8080/obj/1024/a
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  700.12us  20.01ms   90.00%
    Req/Sec    31.00k     2.00k   35.00k    70.00%
  Latency Distribution
     50%  823.00us
     75%    1.07ms
     90%    1.48ms
     99%    3.22ms
  185231 requests in 3.00s, 210.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  61743.67
Transfer/sec:     70.00MB
`

func TestParseWrk(t *testing.T) {
	got, err := ParseWrk(wrkReport)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != 185226 || got.Errors != 8 || got.Elapsed != 3*time.Second {
		t.Errorf("requests %d errors %d elapsed %v; want 185226, 8, 3s", got.Requests, got.Errors, got.Elapsed)
	}
	if got.Lat.P50 != 823*time.Microsecond || got.Lat.P99 != 3220*time.Microsecond {
		t.Errorf("p50 %v p99 %v; want 823µs, 3.22ms", got.Lat.P50, got.Lat.P99)
	}
	if _, err := ParseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); !errors.Is(err, ErrWrkOutput) {
		t.Errorf("ParseWrk(connection refused) error = %v, want ErrWrkOutput", err)
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"823.00us", 823 * time.Microsecond},
		{"1.07ms", 1070 * time.Microsecond},
		{"3.00s", 3 * time.Second},
		{"1.50m", 90 * time.Second},
		{"2.00h", 2 * time.Hour},
	}
	for _, tt := range tests {
		got, err := parseWrkDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "ms", "3x", "1.2.3s"} {
		if _, err := parseWrkDuration(bad); err == nil {
			t.Errorf("parseWrkDuration(%q): no error", bad)
		}
	}
}
