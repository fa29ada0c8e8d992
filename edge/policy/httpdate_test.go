package policy

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// RFC 9110 §5.6.7: recipients MUST accept IMF-fixdate, rfc850-date and
// asctime-date; anything else in Expires is invalid and means already
// expired (RFC 9111 §5.3). These are the cache-tests expires-parse cases.
func TestParseHTTPDate(t *testing.T) {
	want := time.Date(2050, 8, 18, 2, 1, 18, 0, time.UTC)
	ref := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"§5.6.7 IMF-fixdate", "Thu, 18 Aug 2050 02:01:18 GMT", true},
		{"§5.6.7 rfc850-date", "Thursday, 18-Aug-50 02:01:18 GMT", true},
		{"§5.6.7 asctime-date", "Thu Aug 18 02:01:18 2050", true},
		{"§5.6.7 robust: weekday case", "THU, 18 Aug 2050 02:01:18 GMT", true},
		{"§5.6.7 robust: month case", "Thu, 18 AUG 2050 02:01:18 GMT", true},
		{"§5.6.7 robust: GMT case", "Thu, 18 Aug 2050 02:01:18 gMT", true},
		{"invalid: UTC", "Thu, 18 Aug 2050 02:01:18 UTC", false},
		{"invalid: two-digit year in IMF-fixdate", "Thu, 18 Aug 50 02:01:18 GMT", false},
		{"invalid: no comma", "Thu 18 Aug 2050 02:01:18 GMT", false},
		{"invalid: multiple spaces", "Thu, 18  Aug  2050 02:01:18 GMT", false},
		{"invalid: dashes in IMF-fixdate", "Thu, 18-Aug-2050 02:01:18 GMT", false},
		{"invalid: time periods", "Thu, 18 Aug 2050 02.01.18 GMT", false},
		{"invalid: one-digit hour", "Thu, 18 Aug 2050 2:01:18 GMT", false},
		{"invalid: 0", "0", false},
		{"invalid: empty", "", false},
		{"invalid: 31 Feb", "Thu, 31 Feb 2050 02:01:18 GMT", false},
		{"invalid: hour 24", "Thu, 18 Aug 2050 24:01:18 GMT", false},
		{"invalid: short weekday in rfc850", "Thu, 18-Aug-50 02:01:18 GMT", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseHTTPDate(tt.in, ref)
			if ok != tt.ok || (ok && !got.Equal(want)) {
				t.Errorf("parseHTTPDate(%q) = %v, %v; want %v, %v", tt.in, got, ok, want, tt.ok)
			}
		})
	}
}

// RFC 9110 §5.6.7: an rfc850-date year more than 50 years in the future
// is in the previous century.
func TestParseHTTPDateRFC850Century(t *testing.T) {
	ref := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		year int
	}{
		{"Sunday, 06-Nov-94 08:49:37 GMT", 1994},
		{"Thursday, 18-Aug-50 02:01:18 GMT", 2050},
		{"Saturday, 01-Jan-00 00:00:00 GMT", 2000},
		{"Friday, 01-Jan-76 00:00:00 GMT", 1976},
	} {
		got, ok := parseHTTPDate(tt.in, ref)
		if !ok || got.Year() != tt.year {
			t.Errorf("parseHTTPDate(%q) = %v, %v; want year %d", tt.in, got, ok, tt.year)
		}
	}
}

// RFC 9111 §5.3: an Expires that is not a valid HTTP-date means stale,
// even where net/http.ParseTime would accept it.
func TestExpiresStrict(t *testing.T) {
	for _, v := range []string{"Thu, 18 Aug 2050 2:01:18 GMT", "Thu, 18  Aug  2050 02:01:18 GMT"} {
		r := resp(t, "Date: "+date(0), "Expires: "+v)
		if d, _ := Lifetime(r, Options{}); d != 0 {
			t.Errorf("Expires %q: lifetime %v, want 0", v, d)
		}
	}
	r := resp(t, "Date: "+date(0), "Expires: "+t0.Add(time.Hour).Format(time.ANSIC))
	if d, _ := Lifetime(r, Options{}); d != time.Hour {
		t.Errorf("asctime Expires: lifetime %v, want 1h (RFC 9110 §5.6.7)", d)
	}
}

// The parser must agree with net/http on every date net/http formats.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Thu, 18 Aug 2050 02:01:18 GMT", "Thursday, 18-Aug-50 02:01:18 GMT", "Thu Aug 18 02:01:18 2050", "Thu Aug  8 02:01:18 2050", "0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseHTTPDate(s, time.Time{})
		if !ok {
			return
		}
		// A parsed date formats back to a valid IMF-fixdate that parses to
		// the same instant.
		again, ok2 := parseHTTPDate(got.UTC().Format(http.TimeFormat), time.Time{})
		if !ok2 || !again.Equal(got) {
			t.Errorf("%q parsed to %v, whose IMF-fixdate does not round-trip", s, got)
		}
	})
}

// indexFold must answer exactly as looking up strings.ToLower(s) does, for
// any input: it only skips the copy.
func TestIndexFoldMatchesToLower(t *testing.T) {
	inputs := []string{"", "sun", "Sun", "SUN", "sUn", "Friday", "FRIDAY", "Fri", "frİ", "frİday", "Frİ",
		"\u212aan", "nov", "Nov", "NOV", "no", "novx", "Sunday ", " Sun", "ſun", "Mon\x00", "mon\xff"}
	for _, list := range [][]string{shortDays[:], longDays[:], months[:]} {
		for _, s := range inputs {
			if got, want := indexFold(list, s), indexOf(list, strings.ToLower(s)); got != want {
				t.Errorf("indexFold(%q) = %d, want %d", s, got, want)
			}
		}
	}
}
