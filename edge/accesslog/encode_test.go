package accesslog

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostile are header values a client may send to break a log line.
var hostile = []string{
	"",
	"plain",
	`quote " and backslash \ and \"`,
	"newline\nforged line",
	"cr\r\nlf",
	"nul\x00 bell\x07 esc\x1b[31m del\x7f",
	"tab\tthere",
	"invalid \xff\xfe utf-8 \xc3",
	"truncated rune \xe2\x82",
	"line sep \u2028 para sep \u2029",
	"unicode é 日本 🙂",
	`"} , "status": 500, "x": {"`,
	`" 200 0 "-" "-"` + "\n" + `6.6.6.6 - - [01/Jan/2026:00:00:00 +0000] "GET /admin HTTP/1.1" 200 1 "-" "forged"`,
}

// perByteValid is s with each byte of invalid UTF-8 replaced by U+FFFD, as
// AppendJSONQuoted promises (range over a string reads them so).
func perByteValid(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func TestAppendJSONQuoted(t *testing.T) {
	for _, s := range hostile {
		got := AppendJSONQuoted(nil, s)
		checkJSONString(t, s, got)
	}
}

func checkJSONString(t *testing.T, s string, got []byte) {
	t.Helper()
	if !utf8.Valid(got) {
		t.Fatalf("AppendJSONQuoted(%q) = %q: not UTF-8", s, got)
	}
	for _, c := range got {
		if c < 0x20 {
			t.Fatalf("AppendJSONQuoted(%q) = %q: a raw control byte", s, got)
		}
	}
	if strings.Contains(string(got), "\u2028") || strings.Contains(string(got), "\u2029") {
		t.Fatalf("AppendJSONQuoted(%q) = %q: a raw line separator", s, got)
	}
	var back string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("AppendJSONQuoted(%q) = %q: %v", s, got, err)
	}
	if want := perByteValid(s); back != want {
		t.Fatalf("AppendJSONQuoted(%q) decodes to %q, want %q", s, back, want)
	}
}

func FuzzAppendJSONQuoted(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkJSONString(t, s, AppendJSONQuoted([]byte("x"), s)[1:])
	})
}

func testRecord(ua, referer string) *Record {
	return &Record{
		Time:              time.Date(2026, time.December, 6, 9, 52, 3, 45_600_000, time.UTC),
		Client:            netip.MustParseAddr("198.51.100.7"),
		User:              "alice",
		Method:            "GET",
		Host:              "www.example.com",
		Target:            "/a/b?c=d",
		Proto:             "HTTP/1.1",
		Status:            200,
		Bytes:             1234,
		Duration:          12345678 * time.Nanosecond,
		Upstream:          "10.0.0.5:8080",
		UpstreamFirstByte: 2500 * time.Microsecond,
		Cache:             "miss",
		Site:              "www",
		Route:             "/a/",
		RequestID:         "0123abcd-42",
		UserAgent:         ua,
		Referer:           referer,
	}
}

func TestRecordJSON(t *testing.T) {
	for _, ua := range hostile {
		line := testRecord(ua, ua+"ref").AppendJSON(nil)
		if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("UA %q: not one line: %q", ua, line)
		}
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("UA %q: %v in %s", ua, err, line)
		}
		want := map[string]any{
			"time": "2026-12-06T09:52:03.045Z", "level": "INFO", "msg": "request",
			"client": "198.51.100.7", "user": "alice", "method": "GET", "host": "www.example.com",
			"uri": "/a/b?c=d", "proto": "HTTP/1.1", "status": 200.0, "bytes": 1234.0,
			"duration_ms": 12.345, "upstream": "10.0.0.5:8080", "upstream_first_byte_ms": 2.5,
			"cache": "miss", "site": "www", "route": "/a/", "request_id": "0123abcd-42",
			"user_agent": perByteValid(ua), "referer": perByteValid(ua + "ref"),
		}
		if len(got) != len(want) {
			t.Errorf("UA %q: %d fields, want %d: %s", ua, len(got), len(want), line)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("UA %q: %s = %#v, want %#v", ua, k, got[k], v)
			}
		}
	}
}

func TestRecordJSONNoUpstream(t *testing.T) {
	r := testRecord("ua", "")
	r.Upstream, r.Client = "", netip.Addr{}
	var got map[string]any
	if err := json.Unmarshal(r.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	if v, ok := got["upstream_first_byte_ms"]; !ok || v != nil {
		t.Errorf("upstream_first_byte_ms = %#v, want null", v)
	}
	if got["client"] != "" {
		t.Errorf("client = %#v, want empty", got["client"])
	}
}

// combinedRE reads a combined line as log parsers do (after nginx's
// documentation of the format).
var combinedRE = regexp.MustCompile(`^(\S+) - (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"\n$`)

func TestRecordCombined(t *testing.T) {
	for _, ua := range hostile {
		line := string(testRecord(ua, "https://ref.example/?q="+ua).AppendCombined(nil))
		m := combinedRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("UA %q: %q does not parse as one combined line", ua, line)
		}
		want := []string{"198.51.100.7", "alice", "06/Dec/2026:09:52:03 +0000", "GET", "/a/b?c=d", "HTTP/1.1", "200", "1234"}
		for i, w := range want {
			if m[i+1] != w {
				t.Errorf("UA %q: field %d = %q, want %q", ua, i+1, m[i+1], w)
			}
		}
		if got, want := m[10], nginxEscape(ua); got != want {
			t.Errorf("UA %q logged as %q, want %q", ua, got, want)
		}
	}
}

// nginxEscape is nginx's default log escaping, written the slow way.
func nginxEscape(s string) string {
	if s == "" {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			fmt.Fprintf(&b, `\x%02X`, c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func TestCombinedTimeZone(t *testing.T) {
	r := testRecord("", "")
	r.Time = r.Time.In(time.FixedZone("", -(5*3600 + 30*60)))
	r.Client, r.User = netip.Addr{}, ""
	line := string(r.AppendCombined(nil))
	if want := "- - - [06/Dec/2026:04:22:03 -0530] "; !strings.HasPrefix(line, want) {
		t.Errorf("line %q, want prefix %q", line, want)
	}
}

func TestAppendJSONSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, `,"d":0.000000`},
		{1500 * time.Millisecond, `,"d":1.500000`},
		{-250 * time.Microsecond, `,"d":-0.000250`},
	} {
		if got := string(AppendJSONSeconds(nil, "d", tc.d)); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.d, got, tc.want)
		}
	}
}

// Every byte that needs escaping is found at every offset of the
// word-at-a-time scan, and every byte that does not is kept.
func TestAppendJSONQuotedEveryByteEveryOffset(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := range 17 {
			s := []byte(strings.Repeat("a", 17))
			s[pos] = byte(c)
			checkJSONString(t, string(s), AppendJSONQuoted(nil, string(s)))
		}
	}
}
