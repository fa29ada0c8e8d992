package accesslog

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// The helpers below build one JSON object per line by appending to a byte
// slice: no reflection, no map, no allocation once the slice is large
// enough. A line is AppendJSONStart, then fields, then AppendJSONEnd.

// AppendJSONStart begins a JSON line with the fields every line has: its
// time (UTC, RFC 3339 with milliseconds), "level":"INFO" and msg. They are
// the first fields slog's JSON handler wrote, which the access log used to
// be, so that what read those lines still reads these.
func AppendJSONStart(b []byte, t time.Time, msg string) []byte {
	b = append(b, `{"time":"`...)
	b = appendRFC3339Millis(b, t.UTC())
	b = append(b, `","level":"INFO","msg":`...)
	return AppendJSONQuoted(b, msg)
}

// AppendJSONEnd closes a JSON line and ends it with a newline.
func AppendJSONEnd(b []byte) []byte { return append(b, '}', '\n') }

// AppendJSONString appends the member ,"key":"value". key must need no
// escaping (the callers' keys are constants).
func AppendJSONString(b []byte, key, value string) []byte {
	b = appendJSONKey(b, key)
	return AppendJSONQuoted(b, value)
}

// AppendJSONInt appends the member ,"key":v.
func AppendJSONInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(appendJSONKey(b, key), v, 10)
}

// AppendJSONMillis appends the member ,"key":ms with d in milliseconds to
// the microsecond ("12.345").
func AppendJSONMillis(b []byte, key string, d time.Duration) []byte {
	return appendMillis(appendJSONKey(b, key), d)
}

// AppendJSONSeconds appends the member ,"key":s with d in seconds to the
// microsecond ("1.000250").
func AppendJSONSeconds(b []byte, key string, d time.Duration) []byte {
	return appendMicros(appendJSONKey(b, key), d.Microseconds(), 1e6, 6)
}

// AppendJSONNull appends the member ,"key":null.
func AppendJSONNull(b []byte, key string) []byte {
	return append(appendJSONKey(b, key), "null"...)
}

func appendJSONKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendMillis writes d in milliseconds with three decimals.
func appendMillis(b []byte, d time.Duration) []byte {
	return appendMicros(b, d.Microseconds(), 1000, 3)
}

// appendMicros writes us microseconds in a unit of per microseconds, with
// the width decimals that keep every microsecond.
func appendMicros(b []byte, us, per int64, width int) []byte {
	if us < 0 {
		b, us = append(b, '-'), -us
	}
	b = strconv.AppendInt(b, us/per, 10)
	b = append(b, '.')
	return appendPadded(b, int(us%per), width)
}

const (
	hexDigits = "0123456789abcdef"
	upperHex  = "0123456789ABCDEF" // nginx writes \x22, \x5C
)

// AppendJSONQuoted appends s as a JSON string (RFC 8259 §7). Every control
// character is escaped, so a hostile header value cannot end the line;
// invalid UTF-8 becomes U+FFFD, so the line stays valid JSON (RFC 8259
// §8.1); U+2028 and U+2029 are escaped for readers that take them for line
// ends (JavaScript before ES2019).
func AppendJSONQuoted(b []byte, s string) []byte {
	b = appendJSONEscaped(append(b, '"'), s)
	return append(b, '"')
}

// appendJSONEscaped appends s escaped as AppendJSONQuoted does, without the
// quotes. Runs of bytes that need no escaping are copied at once.
func appendJSONEscaped(b []byte, s string) []byte {
	start, i := 0, 0
	for {
		i += plainPrefix(s[i:])
		if i == len(s) {
			return append(b, s[start:]...)
		}
		c := s[i]
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size // valid UTF-8 is kept as it is
			continue
		}
		i += size
		start = i
	}
}

// plainPrefix is the length of the longest prefix of s that needs no
// escaping in a JSON string: printable ASCII but '"' and '\\'. Its loops
// are the whole cost of a line's usual values (a User-Agent, a URL), so
// they are kept tight, 8 bytes at a time while they last.
func plainPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !plain8(load8(s[i:])) {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			break
		}
	}
	return i
}

// load8 is the first 8 bytes of s as a little-endian word: one load once
// compiled. It and plain8 are two functions so that each is inlined.
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plain8 reports whether none of the 8 bytes of x (load8) needs escaping
// in a JSON string: each is printable ASCII and neither '"' nor '\\'. It
// tests them at once, as one word (the bit tricks of "Bit Twiddling
// Hacks": a byte below n, or zero after an XOR, borrows into its high
// bit).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^('"'*ones), x^('\\'*ones)
	special := x | // a byte of 0x80 or more
		(x-0x20*ones)&^x | // a control character (below 0x20)
		(quote-ones)&^quote | // '"'
		(backslash-ones)&^backslash // '\\'
	return special&highs == 0
}

// AppendCombinedQuoted appends s between double quotes as nginx writes a
// variable in log_format's default escaping: '"', '\\' and every byte that
// is not printable ASCII become \xHH, so a value cannot close the quotes,
// add a line, or carry bytes a log reader may mistake. Empty is "-".
func AppendCombinedQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendCombinedEscaped(b, s)
	return append(b, '"')
}

// appendCombinedEscaped appends s escaped as AppendCombinedQuoted does,
// without the quotes; "" is "-".
func appendCombinedEscaped(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\', 'x', upperHex[c>>4], upperHex[c&0xf])
		start = i + 1
	}
	return append(b, s[start:]...)
}

// appendRFC3339Millis writes t as 2006-01-02T15:04:05.000Z (t in UTC), by
// hand: a hit's line must not pay for time.Format's layout parsing.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	var s [19]byte
	putRFC3339(&s, t)
	return appendMillisZ(append(b, s[:]...), t)
}

// putRFC3339 writes t's second as 2006-01-02T15:04:05 (UTC).
func putRFC3339(s *[19]byte, t time.Time) {
	c := civilOf(t, 0)
	putDate(s[:10], c)
	s[10] = 'T'
	putClock(s[11:], c)
}

// appendMillisZ writes the end of an RFC 3339 time, t's milliseconds and
// the UTC zone: .045Z.
func appendMillisZ(b []byte, t time.Time) []byte {
	ms := t.Nanosecond() / 1e6
	return append(b, '.', byte('0'+ms/100), twoDigits[ms%100*2], twoDigits[ms%100*2+1], 'Z')
}

// appendCommonLogTime writes t as the common log format does,
// 06/Dec/2026:09:52:03 +0000, in t's own zone.
func appendCommonLogTime(b []byte, t time.Time) []byte {
	var s [26]byte
	putCommonLogTime(&s, t)
	return append(b, s[:]...)
}

func putCommonLogTime(s *[26]byte, t time.Time) {
	_, offset := t.Zone()
	c := civilOf(t, offset)
	put2(s[0:], c.day)
	s[2] = '/'
	copy(s[3:6], time.Month(c.month).String())
	s[6] = '/'
	put2(s[7:], c.year/100)
	put2(s[9:], c.year%100)
	s[11] = ':'
	putClock(s[12:20], c)
	s[20], s[21] = ' ', '+'
	zone := offset / 60 // in minutes, truncated as time.Format's -0700 does
	if zone < 0 {
		s[21], zone = '-', -zone
	}
	put2(s[22:], zone/60%100)
	put2(s[24:], zone%60)
}

// timeCache holds the text of the last second a line's time was written
// as, in each format: every line of that second repeats it, and copying
// it costs a fraction of computing it. Each of a Writer's encoding buffers
// carries one, so none is shared between goroutines.
type timeCache struct {
	rfc3339    [19]byte // 2006-01-02T15:04:05 of rfc3339Sec, once rfc3339Set
	rfc3339Sec int64
	rfc3339Set bool
	// common is the common log time of commonSec in commonLoc; commonLoc
	// is nil before the first (Time.Location is never nil).
	common    [26]byte
	commonSec int64
	commonLoc *time.Location
}

// appendRFC3339Millis is appendRFC3339Millis through c; a nil c caches
// nothing.
func (c *timeCache) appendRFC3339Millis(b []byte, t time.Time) []byte {
	if c == nil {
		return appendRFC3339Millis(b, t)
	}
	if sec := t.Unix(); !c.rfc3339Set || c.rfc3339Sec != sec {
		putRFC3339(&c.rfc3339, t)
		c.rfc3339Sec, c.rfc3339Set = sec, true
	}
	return appendMillisZ(append(b, c.rfc3339[:]...), t)
}

// appendCommonLogTime is appendCommonLogTime through c; a nil c caches
// nothing. The text of a second is the same in the same location: a
// Location's rules never change.
func (c *timeCache) appendCommonLogTime(b []byte, t time.Time) []byte {
	if c == nil {
		return appendCommonLogTime(b, t)
	}
	if sec, loc := t.Unix(), t.Location(); c.commonLoc != loc || c.commonSec != sec {
		putCommonLogTime(&c.common, t)
		c.commonSec, c.commonLoc = sec, loc
	}
	return append(b, c.common[:]...)
}

// civil is a calendar date and time of day.
type civil struct{ year, month, day, hour, min, sec int }

// maxUnix is 9999-12-31T23:59:59Z, the last second four digits of year
// can write.
const maxUnix = 253402300799

// civilOf is t's date and time of day offset seconds east of UTC. Between
// 1970 and 9999 it is integer arithmetic on the Unix time (Howard
// Hinnant's days-to-civil algorithm, "chrono-Compatible Low-Level Date
// Algorithms"), a fraction of what time.Time's Date and Clock cost, which
// compute the day of the year and each field on their own; other years
// take those, and a year beyond four digits is written modulo 10000.
func civilOf(t time.Time, offset int) civil {
	unix := t.Unix() + int64(offset)
	if unix < 0 || unix > maxUnix {
		u := t.UTC().Add(time.Duration(offset) * time.Second)
		year, month, day := u.Date()
		hour, min, sec := u.Clock()
		return civil{(year%10000 + 10000) % 10000, int(month), day, hour, min, sec}
	}
	days, secs := int(unix/86400), int(unix%86400)
	c := civil{hour: secs / 3600, min: secs / 60 % 60, sec: secs % 60}
	z := days + 719468 // days since 0000-03-01, the start of a 400-year era
	era := z / 146097
	doe := z - era*146097                                  // day of the era, [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of the era, [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of the year from March 1, [0, 365]
	mp := (5*doy + 2) / 153                                // month from March, [0, 11]
	c.day = doy - (153*mp+2)/5 + 1
	c.month = mp + 3
	if mp >= 10 {
		c.month = mp - 9
	}
	c.year = yoe + era*400
	if c.month <= 2 {
		c.year++
	}
	return c
}

// putDate writes c's date as 2006-01-02 into s[:10].
func putDate(s []byte, c civil) {
	put2(s[0:], c.year/100)
	put2(s[2:], c.year%100)
	s[4] = '-'
	put2(s[5:], c.month)
	s[7] = '-'
	put2(s[8:], c.day)
}

// putClock writes c's time of day as 15:04:05 into s[:8].
func putClock(s []byte, c civil) {
	put2(s[0:], c.hour)
	s[2] = ':'
	put2(s[3:], c.min)
	s[5] = ':'
	put2(s[6:], c.sec)
}

// twoDigits holds 00 to 99.
const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// put2 writes n, from 0 to 99, as two digits into s[:2].
func put2(s []byte, n int) {
	s[0], s[1] = twoDigits[2*n], twoDigits[2*n+1]
}

// appendPadded writes n (not negative) in decimal, zero-padded to width.
func appendPadded(b []byte, n, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for n >= 10 || width > 1 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		width--
	}
	i--
	buf[i] = byte('0' + n)
	return append(b, buf[i:]...)
}
