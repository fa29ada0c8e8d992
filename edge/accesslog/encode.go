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
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8 // the common case, a word at a time
			continue
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
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
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plain8 reports whether none of the 8 bytes of w needs escaping in a JSON
// string: each is printable ASCII and neither '"' nor '\\'. It tests them
// at once, as one word (the bit tricks of "Bit Twiddling Hacks": a byte
// below n, or zero after an XOR, borrows into its high bit).
func plain8(w string) bool {
	_ = w[7]
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
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
	year, month, day := t.Date()
	b = appendPadded(b, year, 4)
	b = append(b, '-')
	b = appendPadded(b, int(month), 2)
	b = append(b, '-')
	b = appendPadded(b, day, 2)
	b = append(b, 'T')
	b = appendClock(b, t)
	b = append(b, '.')
	b = appendPadded(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendCommonLogTime writes t as the common log format does,
// 06/Dec/2026:09:52:03 +0000, in t's own zone.
func appendCommonLogTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	b = appendPadded(b, day, 2)
	b = append(b, '/')
	b = append(b, month.String()[:3]...)
	b = append(b, '/')
	b = appendPadded(b, year, 4)
	b = append(b, ':')
	b = appendClock(b, t)
	b = append(b, ' ')
	_, offset := t.Zone()
	sign := byte('+')
	if offset < 0 {
		sign, offset = '-', -offset
	}
	b = append(b, sign)
	b = appendPadded(b, offset/3600, 2)
	return appendPadded(b, offset%3600/60, 2)
}

// appendClock writes t's time of day as 15:04:05.
func appendClock(b []byte, t time.Time) []byte {
	hour, minute, sec := t.Clock()
	b = appendPadded(b, hour, 2)
	b = append(b, ':')
	b = appendPadded(b, minute, 2)
	b = append(b, ':')
	return appendPadded(b, sec, 2)
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
