package policy

import (
	"cmp"
	"net/http"
	"strings"
	"time"
)

// Defaults of Options.
const (
	defaultHeuristicFraction = 0.1
	defaultHeuristicMax      = 24 * time.Hour
	defaultMaxStale          = 10 * time.Minute
)

// maxDuration bounds every duration computed here, so that sums of saturated
// values (2^31 s each, RFC 9111 §1.2.2) cannot overflow time.Duration.
const maxDuration = time.Duration(1 << 62)

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

// Lifetime returns the freshness lifetime of r for a shared cache (RFC 9111
// §4.2.1): s-maxage, else max-age, else Expires minus Date, else (only for
// heuristically cacheable statuses or public, and only without explicit
// freshness) a heuristic (§4.2.2): a fraction of Date minus Last-Modified,
// capped at HeuristicMax. An invalid or conflicting value yields 0 (stale).
// A valid targeted field replaces Cache-Control and Expires (RFC 9213 §2.1).
func Lifetime(r Response, opt Options) (d time.Duration, heuristic bool) {
	var buf Facts
	return lifetime(&r, r.facts(&buf, opt.Surrogate), opt)
}

func lifetime(r *Response, f *Facts, opt Options) (time.Duration, bool) {
	e := &f.eff
	switch {
	case e.sMaxAge != unset: // RFC 9111 §5.2.2.10: shared caches prefer s-maxage
		return deltaLifetime(e.sMaxAge), false
	case e.maxAge != unset: // RFC 9111 §5.2.2.1
		return deltaLifetime(e.maxAge), false
	}
	if !e.targeted() && f.hasExpires {
		return f.expiresLifetime, false // RFC 9111 §5.3
	}
	if !HeuristicStatus(r.Status) && !e.has(fPublic) { // RFC 9111 §4.2.2, RFC 9110 §15.1
		return 0, false
	}
	if !f.hasLM {
		return 0, false
	}
	lm, date := f.lm, f.dateValue
	if !date.After(lm) {
		return 0, false
	}
	opt = opt.WithDefaults()
	frac, limit := opt.HeuristicFraction, opt.HeuristicMax
	h := time.Duration(float64(date.Sub(lm)) * frac)
	if h > limit || h < 0 {
		h = limit
	}
	return h, true
}

// deltaLifetime turns a parsed delta-seconds into a lifetime; an invalid
// value (bad syntax, conflicting duplicates) means stale (RFC 9111 §4.2.1).
func deltaLifetime(n int64) time.Duration {
	if n < 0 {
		return 0
	}
	return secs(n)
}

// expiresLifetime is Expires minus Date (RFC 9111 §4.2.1): lines are the
// Expires field lines of r, date its dateValue. An invalid Expires, or
// several that disagree, means already expired (§5.3, §4.2.1).
func expiresLifetime(r Response, date time.Time, lines []string) time.Duration {
	for _, l := range lines[1:] {
		if l != lines[0] {
			return 0
		}
	}
	exp, ok := parseHTTPDate(strings.Trim(lines[0], " \t"), r.ResponseTime) // RFC 9110 §5.6.7
	if !ok {
		return 0
	}
	d := exp.Sub(date)
	if d < 0 {
		return 0
	}
	return min(d, maxDuration)
}

// Age returns the current age of r at now, as RFC 9111 §4.2.3 computes it:
//
//	apparent_age = max(0, response_time - date_value)
//	response_delay = response_time - request_time
//	corrected_age_value = age_value + response_delay
//	corrected_initial_age = max(apparent_age, corrected_age_value)
//	resident_time = now - response_time
//	current_age = corrected_initial_age + resident_time
//
// An invalid or negative Age field is ignored (§5.1); a huge one saturates
// at 2^31 seconds (§1.2.2). Missing times count as zero durations.
func Age(r Response, now time.Time) time.Duration {
	if f := r.Facts; f != nil {
		return age(&r, f.ageHeader, f.date, f.hasDate, now)
	}
	date, hasDate := parseDate(r.Header, "Date", r.ResponseTime)
	return age(&r, ageHeader(r.Header), date, hasDate, now)
}

// age is Age with r's Age field ageHdr (ageHeader) and Date field date
// (when hasDate) already parsed.
func age(r *Response, ageHdr int64, date time.Time, hasDate bool, now time.Time) time.Duration {
	ageValue := secs(max(ageHdr, 0))
	var apparent, delay, resident time.Duration
	if hasDate && !r.ResponseTime.IsZero() {
		apparent = max(0, sub(r.ResponseTime, date))
	}
	if !r.RequestTime.IsZero() && !r.ResponseTime.IsZero() {
		delay = max(0, sub(r.ResponseTime, r.RequestTime))
	}
	if !r.ResponseTime.IsZero() {
		resident = max(0, sub(now, r.ResponseTime))
	}
	initial := max(apparent, satAdd(ageValue, delay))
	return satAdd(initial, resident)
}

// ageHeader parses Age = delta-seconds (RFC 9111 §5.1). Only the first line
// and its first list element count; anything else is invalid (-1).
func ageHeader(h http.Header) int64 {
	v := h["Age"]
	if len(v) == 0 {
		return -1
	}
	s := v[0]
	if i := strings.IndexByte(s, ','); i >= 0 {
		s = s[:i]
	}
	n := parseDelta(strings.Trim(s, " \t"))
	if n < 0 {
		return -1
	}
	return n
}

// sub is a.Sub(b) bounded by ±maxDuration.
func sub(a, b time.Time) time.Duration {
	return min(max(a.Sub(b), -maxDuration), maxDuration)
}

func satAdd(a, b time.Duration) time.Duration {
	if a > maxDuration-b {
		return maxDuration
	}
	return a + b
}

// Decide says what to do with stored response r for a request with header
// req at now (RFC 9111 §4, §4.2.4, §5.2.1, §5.4; RFC 5861 §3). A purged
// response (Response.Purged) is stale now, whatever its lifetime.
func Decide(req http.Header, r Response, now time.Time, opt Options) Decision {
	if r.Facts != nil {
		return decide(req, &r, r.Facts, now, opt)
	}
	var f Facts
	f.parse(r, false, opt.Surrogate)
	return decide(req, &r, &f, now, opt)
}

// decide is Decide with r's facts f.
func decide(req http.Header, r *Response, f *Facts, now time.Time, opt Options) Decision {
	e := &f.eff
	rd := requestDirectives(req)
	life, _ := lifetime(r, f, opt)
	age := age(r, f.ageHeader, f.date, f.hasDate, now)
	d := Decision{Action: Revalidate, Age: age, TTL: life - age, Fwd: FwdStale}
	// The request forbade a response that was fresh (RFC 9211 §2.2).
	byRequest := FwdStale
	if d.TTL > 0 && !r.Purged {
		byRequest = FwdRequest
	}
	if opt.IgnoreClientNoCache {
		// The cache declines the request's demands for validation (see
		// Options.IgnoreClientNoCache); a purge or the response's own
		// no-cache still counts.
		rd.flags &^= fNoCache
		rd.maxAge, rd.minFresh = unset, unset
	}

	switch {
	case e.has(fNoCache): // RFC 9111 §5.2.2.4: never reuse without validation
		d.Detail = DetailNoCache
		return d
	case rd.has(fNoCache): // RFC 9111 §5.2.1.4
		d.Detail, d.Fwd = DetailRequestNoCache, byRequest
		return d
	case !opt.IgnoreClientNoCache && len(req["Cache-Control"]) == 0 && pragmaNoCache(req): // RFC 9111 §5.4: Pragma only counts without Cache-Control
		d.Detail, d.Fwd = DetailPragmaNoCache, byRequest
		return d
	case rd.maxAge != unset && (rd.maxAge < 0 || age > secs(rd.maxAge)): // RFC 9111 §5.2.1.1
		d.Detail, d.Fwd = DetailRequestMaxAge, byRequest
		return d
	}
	if r.Purged {
		return decidePurged(d, e, &rd, r, now)
	}
	if d.TTL > 0 { // fresh: RFC 9111 §4.2
		if rd.minFresh >= 0 && d.TTL < secs(rd.minFresh) { // RFC 9111 §5.2.1.3
			d.Detail, d.Fwd = DetailMinFresh, FwdRequest
			return d
		}
		d.Action, d.Detail, d.Fwd = Serve, "", ""
		return d
	}
	staleness := -d.TTL
	// RFC 9111 §4.2.4: must-revalidate (§5.2.2.2), proxy-revalidate
	// (§5.2.2.8) and s-maxage (§5.2.2.10, which implies proxy-revalidate)
	// forbid serving stale, even when the client allows it.
	noStale := mustRevalidate(r, e) || e.sMaxAge != unset
	if !noStale && staleness <= maxStale(&rd, opt) {
		d.Action, d.Detail, d.Fwd = ServeStale, DetailMaxStale, "" // RFC 9111 §5.2.1.2
		return d
	}
	// RFC 5861 §3: stale-while-revalidate is the origin's explicit consent to
	// serve stale while revalidating, so s-maxage's implied proxy-revalidate
	// (a default for shared caches) yields to it; an explicit
	// must-revalidate or proxy-revalidate still wins (RFC 9111 §4.2.4). A
	// client that asked for freshness (min-fresh) does not get stale.
	if e.swr >= 0 && staleness <= secs(e.swr) && rd.minFresh == unset && !mustRevalidate(r, e) {
		d.Action, d.Background, d.Detail, d.Fwd = ServeStale, true, DetailStaleWhileRevalidate, ""
		return d
	}
	d.Detail = DetailStale
	return d
}

// mustRevalidate reports whether stored response r, with effective
// directives e, must never be served stale without validation: it says
// must-revalidate (RFC 9111 §5.2.2.2) or proxy-revalidate (§5.2.2.8, which
// binds shared caches), or the cache marked it so (Response.MustRevalidate).
func mustRevalidate(r *Response, e *effective) bool {
	return r.MustRevalidate || e.has(fMustRevalidate) || e.has(fProxyRevalidate)
}

// maxStale is the staleness the request's max-stale accepts (RFC 9111
// §5.2.1.2), at most Options.MaxStale; negative when it accepts none.
func maxStale(rd *directives, opt Options) time.Duration {
	limit := cmp.Or(opt.MaxStale, defaultMaxStale)
	if opt.NoMaxStale || limit < 0 {
		return -1
	}
	switch {
	case rd.has(fMaxStaleAny): // no value: any staleness, up to the cap
		return limit
	case rd.maxStale >= 0:
		return min(secs(rd.maxStale), limit)
	}
	return -1
}

// decidePurged decides for a response a purge marked stale (a soft purge is
// "stale now"; RFC 9111 has no purge). The origin's own consent to serve it
// stale while revalidating (stale-while-revalidate, RFC 5861 §3) counts
// from the purge, under the same conditions as for a response that expired.
// A client's max-stale does not apply: a purge is the operator's word that
// the content is outdated, and serving it without revalidating at all
// would ignore that.
func decidePurged(d Decision, e *effective, rd *directives, r *Response, now time.Time) Decision {
	d.Detail = DetailPurged
	if r.PurgedAt.IsZero() {
		return d // validate before any use
	}
	// Stale since the purge, or since it expired if that came first.
	d.TTL = min(d.TTL, -max(0, sub(now, r.PurgedAt)))
	staleness := -d.TTL
	if e.swr >= 0 && staleness <= secs(e.swr) && rd.minFresh == unset && !mustRevalidate(r, e) {
		d.Action, d.Background, d.Detail, d.Fwd = ServeStale, true, DetailPurgedStaleWhileRevalidate, ""
	}
	return d
}

// purgedStaleness is how long r has been stale at now, counting from its
// purge when a soft purge marked it; ok is false when it was purged at an
// unknown time (never to be served stale).
func purgedStaleness(r *Response, f *Facts, life time.Duration, now time.Time) (staleness time.Duration, ok bool) {
	staleness = max(0, age(r, f.ageHeader, f.date, f.hasDate, now)-life)
	if !r.Purged {
		return staleness, true
	}
	if r.PurgedAt.IsZero() {
		return 0, false
	}
	return max(staleness, sub(now, r.PurgedAt)), true
}

// pragmaNoCache reports "Pragma: no-cache" (RFC 9111 §5.4).
func pragmaNoCache(h http.Header) bool {
	for _, line := range h["Pragma"] {
		found := false
		scanList(line, func(name, _ string, _ bool) {
			if name == "no-cache" {
				found = true
			}
		})
		if found {
			return true
		}
	}
	return false
}

// StaleIfErrorStatus reports the upstream statuses that count as errors for
// stale-if-error (RFC 5861 §4).
func StaleIfErrorStatus(status int) bool {
	switch status {
	case 500, 502, 503, 504:
		return true
	}
	return false
}

// StaleIfError reports whether r may be served stale because the upstream
// failed or answered 500, 502, 503 or 504 (RFC 5861 §4): stale-if-error=N in
// the response or in the request allows it while the staleness is at most N.
// must-revalidate, proxy-revalidate, Response.MustRevalidate and no-cache
// forbid it (RFC 9111 §4.2.4); s-maxage alone does not, for the reason
// given in Decide. A soft-purged
// response is stale since its purge (Response.PurgedAt); one purged at an
// unknown time is never served stale.
func StaleIfError(req http.Header, r Response, now time.Time, opt Options) bool {
	var buf Facts
	f := r.facts(&buf, opt.Surrogate)
	e := &f.eff
	if mustRevalidate(&r, e) || e.has(fNoCache) {
		return false
	}
	life, _ := lifetime(&r, f, opt)
	staleness, ok := purgedStaleness(&r, f, life, now)
	if !ok {
		return false
	}
	rd := requestDirectives(req)
	return (e.sie >= 0 && staleness <= secs(e.sie)) || (rd.sie >= 0 && staleness <= secs(rd.sie))
}

// OnlyIfCached reports the only-if-cached request directive (RFC 9111
// §5.2.1.7): the cache answers from storage or with 504.
func OnlyIfCached(req http.Header) bool {
	rd := requestDirectives(req)
	return rd.has(fOnlyIfCached)
}

// RequestNoStore reports the no-store request directive (RFC 9111
// §5.2.1.5): the cache may answer from storage but must not store the
// response, so a miss is forwarded alone rather than shared.
func RequestNoStore(req http.Header) bool {
	rd := requestDirectives(req)
	return rd.has(fNoStore)
}

// Produced estimates when the origin made r, from the Age its upstream
// caches reported (RFC 9111 §5.1) rather than from Date: Date has
// one-second resolution and the origin's clock, so it would make a response
// fetched just after an event look older than the event.
func Produced(r Response) time.Time {
	var age int64
	if r.Facts != nil {
		age = r.Facts.ageHeader
	} else {
		age = ageHeader(r.Header)
	}
	if age <= 0 {
		return r.RequestTime
	}
	return r.RequestTime.Add(-secs(age))
}
