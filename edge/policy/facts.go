package policy

import "time"

// Facts are what the freshness, age and validation rules read from a stored
// response's header fields, parsed once: the effective response directives
// (CDN-Cache-Control, Surrogate-Control or Cache-Control, RFC 9213 §2.1),
// Date, Expires, Age, Last-Modified and ETag. A cache that keeps a
// response's Facts beside it (Response.Facts) saves every request that
// uses the response from parsing those fields again.
//
// Facts depend on the response's Header and ResponseTime only (the receipt
// time places a two-digit rfc850-date year and stands in for a missing
// Date); Status, RequestTime, Purged, PurgedAt and MustRevalidate are read
// from the Response each time. A Facts value is immutable once made, so it may be
// shared between goroutines.
type Facts struct {
	eff effective
	// date is the Date field (hasDate), and dateValue the date the rules
	// use: Date, or ResponseTime without a valid one (RFC 9110 §6.6.1).
	date      time.Time
	hasDate   bool
	dateValue time.Time
	lm        time.Time // Last-Modified, when hasLM
	hasLM     bool
	// hasExpires is set when there is an Expires field; expiresLifetime is
	// then Expires minus Date (0 when invalid or conflicting).
	hasExpires      bool
	expiresLifetime time.Duration
	ageHeader       int64 // the Age field, -1 when absent or invalid (RFC 9111 §5.1)
	etag            etag  // the stored entity-tag, when hasETag
	hasETag         bool
}

// ParseFacts parses the facts of r for a cache with options opt (its
// Surrogate selects the Surrogate-Control directives). The result may be
// stored in Response.Facts of any Response with the same Header and
// ResponseTime, used with the same opt.Surrogate.
func ParseFacts(r Response, opt Options) *Facts {
	f := new(Facts)
	f.parse(r, true, opt.Surrogate)
	f.etag, f.hasETag = storedETag(r.Header)
	return f
}

// parse fills f from r's header fields, except the ETag: only Precondition
// reads it, and only from ParseFacts's Facts. When all is false, parse is
// for one use by the freshness rules (Decide, Age, Lifetime, StaleIfError)
// and skips what they do not read: Expires and Last-Modified when s-maxage
// or max-age gives the lifetime (lifetime returns before reading them).
func (f *Facts) parse(r Response, all bool, surrogate string) {
	h := r.Header
	f.eff = responseDirectives(h, surrogate)
	f.date, f.hasDate = parseDate(h, "Date", r.ResponseTime)
	f.dateValue = r.ResponseTime
	if f.hasDate {
		f.dateValue = f.date
	}
	f.ageHeader = ageHeader(h)
	if !all && (f.eff.sMaxAge != unset || f.eff.maxAge != unset) {
		return
	}
	f.lm, f.hasLM = parseDate(h, "Last-Modified", r.ResponseTime)
	if lines := h["Expires"]; len(lines) > 0 {
		f.hasExpires = true
		f.expiresLifetime = expiresLifetime(r, f.dateValue, lines)
	}
}

// facts returns r.Facts, or parses what the freshness rules read into buf
// when r has none.
func (r *Response) facts(buf *Facts, surrogate string) *Facts {
	if r.Facts != nil {
		return r.Facts
	}
	buf.parse(*r, false, surrogate)
	return buf
}
