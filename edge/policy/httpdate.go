package policy

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"edged/internal/ascii"
)

// HTTP-date parsing (RFC 9110 §5.6.7).
//
// net/http.ParseTime is too lenient for a cache: it accepts one-digit hours
// and runs of spaces, so "Thu, 18 Aug 2050 2:01:18 GMT" would make a
// response fresh for decades, where RFC 9111 §5.3 says an invalid Expires
// means already expired. parseHTTPDate follows the grammar exactly, with
// two robustness allowances RFC 9110 §5.6.7 encourages ("recipients ... are
// encouraged to be robust in parsing timestamps"): day and month names and
// "GMT" are matched without regard to case.

var (
	shortDays = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	longDays  = [...]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
	months    = [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
)

// parseDate parses the first line of field key as an HTTP-date. ref is the
// time the message was received, used only to place an rfc850-date's
// two-digit year (RFC 9110 §5.6.7); zero means "now" is unknown.
func parseDate(h http.Header, key string, ref time.Time) (time.Time, bool) {
	v := h[key]
	if len(v) == 0 {
		return time.Time{}, false
	}
	return parseHTTPDate(strings.Trim(v[0], " \t"), ref)
}

// parseHTTPDate parses one of the three HTTP-date forms of RFC 9110 §5.6.7:
//
//	IMF-fixdate  = day-name "," SP date1 SP time-of-day SP GMT   ; Sun, 06 Nov 1994 08:49:37 GMT
//	rfc850-date  = day-name-l "," SP date2 SP time-of-day SP GMT ; Sunday, 06-Nov-94 08:49:37 GMT
//	asctime-date = day-name SP date3 SP time-of-day SP year      ; Sun Nov  6 08:49:37 1994
//
// Recipients MUST accept all three (§5.6.7). The day name is not checked
// against the date (the grammar does not ask recipients to).
func parseHTTPDate(s string, ref time.Time) (time.Time, bool) {
	if i := strings.IndexByte(s, ','); i >= 0 {
		name, rest := s[:i], s[i+1:]
		if indexFold(shortDays[:], name) >= 0 {
			return imfFixdate(rest)
		}
		if indexFold(longDays[:], name) >= 0 {
			return rfc850Date(rest, ref)
		}
		return time.Time{}, false
	}
	return asctimeDate(s)
}

// imfFixdate parses " 06 Nov 1994 08:49:37 GMT" (after the day name's comma).
func imfFixdate(s string) (time.Time, bool) {
	if len(s) != 25 || s[0] != ' ' || s[3] != ' ' || s[7] != ' ' || s[12] != ' ' || s[21] != ' ' {
		return time.Time{}, false
	}
	day, ok1 := digits(s[1:3])
	month := monthOf(s[4:7])
	year, ok2 := digits(s[8:12])
	if !ok1 || !ok2 || month == 0 || !strings.EqualFold(s[22:], "GMT") {
		return time.Time{}, false
	}
	return build(year, month, day, s[13:21])
}

// rfc850Date parses " 06-Nov-94 08:49:37 GMT". A two-digit year that would
// be more than 50 years after ref is in the previous century (§5.6.7).
func rfc850Date(s string, ref time.Time) (time.Time, bool) {
	if len(s) != 23 || s[0] != ' ' || s[3] != '-' || s[7] != '-' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	day, ok1 := digits(s[1:3])
	month := monthOf(s[4:7])
	yy, ok2 := digits(s[8:10])
	if !ok1 || !ok2 || month == 0 || !strings.EqualFold(s[20:], "GMT") {
		return time.Time{}, false
	}
	refYear := 2000
	if !ref.IsZero() {
		refYear = ref.UTC().Year()
	}
	year := refYear - refYear%100 + yy
	if year > refYear+50 {
		year -= 100
	} else if year <= refYear-50 {
		year += 100
	}
	return build(year, month, day, s[11:19])
}

// asctimeDate parses "Sun Nov  6 08:49:37 1994" (day as 2DIGIT or SP 1DIGIT).
func asctimeDate(s string) (time.Time, bool) {
	if len(s) != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	if indexFold(shortDays[:], s[:3]) < 0 {
		return time.Time{}, false
	}
	month := monthOf(s[4:7])
	dd := s[8:10]
	if dd[0] == ' ' {
		dd = dd[1:]
	}
	day, ok1 := digits(dd)
	year, ok2 := digits(s[20:24])
	if !ok1 || !ok2 || month == 0 {
		return time.Time{}, false
	}
	return build(year, month, day, s[11:19])
}

// build checks time-of-day "hh:mm:ss" and the calendar date. A leap second
// (60, allowed by the grammar) is folded into the next second.
func build(year, month, day int, tod string) (time.Time, bool) {
	if len(tod) != 8 || tod[2] != ':' || tod[5] != ':' {
		return time.Time{}, false
	}
	hh, ok1 := digits(tod[0:2])
	mm, ok2 := digits(tod[3:5])
	ss, ok3 := digits(tod[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 || day < 1 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // 31 Feb and the like
	}
	t = t.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute + time.Duration(ss)*time.Second)
	return t, true
}

// digits parses a fixed-width run of ASCII digits.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// monthOf returns 1..12 for a three-letter month name (any case), else 0.
func monthOf(s string) int {
	return indexFold(months[:], s) + 1
}

// indexFold returns the index of the lower-case name in list that s spells
// in any case, or -1: the index of strings.ToLower(s). ASCII input, all that
// valid dates hold, is compared without lower-casing a copy: every hit
// parses Date twice.
func indexFold(list []string, s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			// Unicode lower-casing can turn non-ASCII into ASCII
			// ("İ" into "i"); keep its exact answer.
			return indexOf(list, strings.ToLower(s))
		}
	}
	for i, v := range list {
		if ascii.EqualFold(v, s) {
			return i
		}
	}
	return -1
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
