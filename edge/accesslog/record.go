package accesslog

import (
	"net/netip"
	"strconv"
	"time"
)

// Record is one request as the edge logs it. The serving layer keeps one per
// request object and fills it when the request ends; its strings are the
// request's own (nothing is copied until the line is encoded).
type Record struct {
	Time     time.Time  // when the request ended
	Client   netip.Addr // the real client: behind a trusted proxy, the address it forwarded
	User     string     // the authenticated identity; "" when none
	Method   string
	Host     string
	Target   string // the request target as the client sent it
	Proto    string // "HTTP/1.1", "HTTP/2.0"
	Status   int
	Bytes    int64 // response body bytes sent
	Duration time.Duration
	// Upstream is the server that answered (a pool member or a shield, as
	// host:port); "" when the request was not forwarded (a hit, a refusal).
	Upstream string
	// UpstreamFirstByte is the time from sending the request upstream to
	// its response header, retries included; meaningful only with Upstream.
	UpstreamFirstByte time.Duration
	Cache             string // the cache outcome, as in edged_requests_total
	Site, Route       string // "" when no site or route served it
	RequestID         string
	UserAgent         string
	Referer           string
}

// AppendJSON appends r as one JSON line. The names of the fields that the
// access log had before (method, host, uri, status, bytes, cache,
// duration_ms, client) are kept.
//
// It writes what AppendJSONStart, the AppendJSON* members and AppendJSONEnd
// would, but with each member's punctuation and name, and the closing
// quote of the string before, as one constant: one append where those
// make four, on every request.
func (r *Record) AppendJSON(b []byte) []byte { return r.appendJSON(b, nil) }

// appendJSON is AppendJSON, with the time's text kept in tc (nil: none).
func (r *Record) appendJSON(b []byte, tc *timeCache) []byte {
	b = append(b, `{"time":"`...)
	b = tc.appendRFC3339Millis(b, r.Time)
	b = append(b, `","level":"INFO","msg":"request","client":"`...)
	b = r.Client.AppendTo(b)
	b = appendJSONEscaped(append(b, `","user":"`...), r.User)
	b = appendJSONEscaped(append(b, `","method":"`...), r.Method)
	b = appendJSONEscaped(append(b, `","host":"`...), r.Host)
	b = appendJSONEscaped(append(b, `","uri":"`...), r.Target)
	b = appendJSONEscaped(append(b, `","proto":"`...), r.Proto)
	b = strconv.AppendInt(append(b, `","status":`...), int64(r.Status), 10)
	b = strconv.AppendInt(append(b, `,"bytes":`...), r.Bytes, 10)
	b = appendMillis(append(b, `,"duration_ms":`...), r.Duration)
	b = appendJSONEscaped(append(b, `,"upstream":"`...), r.Upstream)
	if r.Upstream != "" {
		b = appendMillis(append(b, `","upstream_first_byte_ms":`...), r.UpstreamFirstByte)
		b = append(b, `,"cache":"`...)
	} else {
		b = append(b, `","upstream_first_byte_ms":null,"cache":"`...)
	}
	b = appendJSONEscaped(b, r.Cache)
	b = appendJSONEscaped(append(b, `","site":"`...), r.Site)
	b = appendJSONEscaped(append(b, `","route":"`...), r.Route)
	b = appendJSONEscaped(append(b, `","request_id":"`...), r.RequestID)
	b = appendJSONEscaped(append(b, `","user_agent":"`...), r.UserAgent)
	b = appendJSONEscaped(append(b, `","referer":"`...), r.Referer)
	return append(b, "\"}\n"...)
}

// AppendCombined appends r in the combined log format, exactly as nginx's
// predefined "combined" log_format writes it, so that the tools that read
// that format read these lines:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// The fields the format has no place for (cache status, request id...) are
// in the JSON format only.
func (r *Record) AppendCombined(b []byte) []byte { return r.appendCombined(b, nil) }

// combinedBound is the most bytes r's combined line can take: 40 for the
// address, 26 for the time, 20 each for the numbers and 15 for the spaces,
// brackets, quotes and dashes; each byte of a string is escaped to at most
// 4 (\xHH).
func (r *Record) combinedBound() int {
	return 160 + 4*(len(r.Client.Zone())+len(r.User)+len(r.Method)+len(r.Target)+len(r.Proto)+
		len(r.Referer)+len(r.UserAgent))
}

// appendCombined is AppendCombined, with the time's text kept in tc (nil:
// none).
func (r *Record) appendCombined(b []byte, tc *timeCache) []byte {
	if r.Client.IsValid() {
		b = r.Client.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, " - "...)
	b = appendCombinedEscaped(b, r.User)
	b = append(b, " ["...)
	b = tc.appendCommonLogTime(b, r.Time)
	b = append(b, "] \""...)
	b = appendCombinedEscaped(b, r.Method)
	b = append(b, ' ')
	b = appendCombinedEscaped(b, r.Target)
	b = append(b, ' ')
	b = appendCombinedEscaped(b, r.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.Bytes, 10)
	b = append(b, ' ')
	b = AppendCombinedQuoted(b, r.Referer)
	b = append(b, ' ')
	b = AppendCombinedQuoted(b, r.UserAgent)
	return append(b, '\n')
}
