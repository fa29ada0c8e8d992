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

// The hand-written time formats agree with time.Format at every kind of
// date: each month's ends, leap days, centuries, before 1970 (the slow
// path), and in zones east and west of UTC.
func TestTimeFormats(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+45*60), time.FixedZone("", -(9*3600 + 30*60)), time.FixedZone("", 14*3600)}
	var times []time.Time
	for _, year := range []int{1, 1600, 1899, 1900, 1969, 1970, 1999, 2000, 2024, 2026, 2100, 2400, 9999} {
		for month := time.January; month <= time.December; month++ {
			first := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC)
			times = append(times, first, first.Add(-time.Millisecond), first.AddDate(0, 0, 28).Add(-time.Nanosecond))
		}
	}
	// And one moment of each day of a leap year and the next, at a
	// different time of day each.
	for d := range 731 {
		times = append(times, time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(d)*(24*time.Hour+37*time.Minute+11*time.Second+7*time.Millisecond)))
	}
	for _, tm := range times {
		if got, want := string(appendRFC3339Millis(nil, tm)), tm.UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Fatalf("appendRFC3339Millis(%v) = %s, want %s", tm, got, want)
		}
		for _, z := range zones {
			lt := tm.In(z)
			if lt.Year() > 9999 {
				continue
			}
			if got, want := string(appendCommonLogTime(nil, lt)), lt.Format("02/Jan/2006:15:04:05 -0700"); got != want {
				t.Fatalf("appendCommonLogTime(%v) = %s, want %s", lt, got, want)
			}
		}
	}
}

// AppendJSON writes, byte for byte, the line that the exported helpers
// build field by field (what it wrote before it fused their constants):
// the same names, order, escaping and numbers, with and without upstream.
func TestRecordJSONMatchesHelpers(t *testing.T) {
	for _, v := range hostile {
		for i, upstream := range []string{"", "10.0.0.5:8080", v} {
			r := testRecord(v, v+"ref")
			r.User, r.Host, r.Target, r.Site, r.Route, r.RequestID, r.Upstream = v, v, v, v, v, v, upstream
			r.Client = []netip.Addr{{}, netip.MustParseAddr("2001:db8::7"), r.Client}[i]
			if got, want := string(r.AppendJSON(nil)), string(helperJSON(r)); got != want {
				t.Fatalf("value %q, upstream %q:\n got %s\nwant %s", v, upstream, got, want)
			}
		}
	}
}

// helperJSON is Record.AppendJSON written with the exported helpers.
func helperJSON(r *Record) []byte {
	b := AppendJSONStart(nil, r.Time, "request")
	client := "" // not netip.Addr's "invalid IP"
	if r.Client.IsValid() {
		client = r.Client.String()
	}
	b = AppendJSONString(b, "client", client)
	b = AppendJSONString(b, "user", r.User)
	b = AppendJSONString(b, "method", r.Method)
	b = AppendJSONString(b, "host", r.Host)
	b = AppendJSONString(b, "uri", r.Target)
	b = AppendJSONString(b, "proto", r.Proto)
	b = AppendJSONInt(b, "status", int64(r.Status))
	b = AppendJSONInt(b, "bytes", r.Bytes)
	b = AppendJSONMillis(b, "duration_ms", r.Duration)
	b = AppendJSONString(b, "upstream", r.Upstream)
	if r.Upstream != "" {
		b = AppendJSONMillis(b, "upstream_first_byte_ms", r.UpstreamFirstByte)
	} else {
		b = AppendJSONNull(b, "upstream_first_byte_ms")
	}
	b = AppendJSONString(b, "cache", r.Cache)
	b = AppendJSONString(b, "site", r.Site)
	b = AppendJSONString(b, "route", r.Route)
	b = AppendJSONString(b, "request_id", r.RequestID)
	b = AppendJSONString(b, "user_agent", r.UserAgent)
	b = AppendJSONString(b, "referer", r.Referer)
	return AppendJSONEnd(b)
}

// A timeCache writes what the uncached functions write, as the second, the
// millisecond and the zone change, forward and back.
func TestTimeCache(t *testing.T) {
	base := time.Date(2026, time.December, 31, 23, 59, 58, 0, time.UTC)
	east, west := time.FixedZone("", 3600), time.FixedZone("", -4*3600)
	var c timeCache
	for _, tm := range []time.Time{
		base, base.Add(999 * time.Millisecond), base.Add(time.Second), base.Add(2*time.Second + 5*time.Millisecond),
		base.Add(time.Second), base, base.In(east), base.In(west), base.Add(1500 * time.Millisecond).In(west),
		time.Unix(0, 0), time.Unix(0, 0).In(east), time.Unix(-1, 0), {},
	} {
		if got, want := string(c.appendRFC3339Millis(nil, tm)), string(appendRFC3339Millis(nil, tm)); got != want {
			t.Errorf("%v: cached RFC 3339 %s, want %s", tm, got, want)
		}
		if got, want := string(c.appendCommonLogTime(nil, tm)), string(appendCommonLogTime(nil, tm)); got != want {
			t.Errorf("%v: cached common log time %s, want %s", tm, got, want)
		}
	}
}

// FuzzTimeFormats holds the hand-written time formats to time.Format at
// any second from year 1 to 9999, in any zone offset.
func FuzzTimeFormats(f *testing.F) {
	f.Add(int64(1796550723), int64(45_600_000), int32(0))
	f.Add(int64(951782400), int64(999_999_999), int32(-(5*3600 + 30*60))) // 2000-02-29
	f.Add(int64(-1), int64(0), int32(14*3600))
	f.Fuzz(func(t *testing.T, sec, nsec int64, offset int32) {
		const minSec = -62135596800 // 0001-01-01T00:00:00Z
		if sec < minSec+86400 || sec > maxUnix-86400 || nsec < 0 || nsec >= 1e9 || offset < -24*3600 || offset > 24*3600 {
			t.Skip()
		}
		tm := time.Unix(sec, nsec).In(time.FixedZone("", int(offset)))
		if got, want := string(appendRFC3339Millis(nil, tm)), tm.UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Fatalf("appendRFC3339Millis(%v) = %s, want %s", tm, got, want)
		}
		if got, want := string(appendCommonLogTime(nil, tm)), tm.Format("02/Jan/2006:15:04:05 -0700"); got != want {
			t.Fatalf("appendCommonLogTime(%v) = %s, want %s", tm, got, want)
		}
	})
}
