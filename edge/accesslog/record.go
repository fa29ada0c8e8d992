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
func (r *Record) AppendJSON(b []byte) []byte {
	b = AppendJSONStart(b, r.Time, "request")
	b = appendJSONKey(b, "client")
	b = append(b, '"')
	b = r.Client.AppendTo(b)
	b = append(b, '"')
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

// AppendCombined appends r in the combined log format, exactly as nginx's
// predefined "combined" log_format writes it, so that the tools that read
// that format read these lines:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// The fields the format has no place for (cache status, request id...) are
// in the JSON format only.
func (r *Record) AppendCombined(b []byte) []byte {
	if r.Client.IsValid() {
		b = r.Client.AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, " - "...)
	b = appendCombinedEscaped(b, r.User)
	b = append(b, " ["...)
	b = appendCommonLogTime(b, r.Time)
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
