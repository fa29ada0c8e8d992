// Package waf is a route's web application firewall: the Coraza engine
// (github.com/corazawaf/coraza/v3) running the OWASP Core Rule Set
// (github.com/corazawaf/coraza-coreruleset/v4, embedded in the binary) over
// a client request before the cache looks it up.
//
// # Contract
//
//   - [New] compiles the rule set once for one [Options]; compiling the CRS
//     takes a noticeable time and memory (see docs/config.md), so a
//     [Set] hands routes with equal options one shared [*WAF]. Options are
//     validated there, once; [Options.Validate] names each bad field. A *WAF is
//     safe for concurrent use and never changes after New.
//   - [WAF.Inspect] runs the request phases only: headers (phase 1), then
//     the body (phase 2). Responses are never inspected (the CRS RESPONSE-*
//     rules never run), and no audit log is written.
//   - A body is read into memory up to Options.RequestBodyLimit bytes and
//     no further: a longer one is refused with 413 (BodyReject, block mode)
//     or inspected by its first RequestBodyLimit bytes (BodyInspectPartial,
//     and always in detect mode). Either way the request that goes on
//     carries the whole body, unchanged: the bytes read are put back in
//     front of the rest.
//   - The CRS runs as it ships but for one rewrite that finds the same
//     (rule 941010, see tuning.go): TestTuningFindsTheSame runs the CRS's
//     own regression requests through both and requires the same rules to
//     match with the same verdict.
//   - The CRS runs in anomaly-scoring mode: each rule that matches adds to a
//     score, and rule 949110 blocks once the score reaches the threshold.
//     [Verdict] reports the rules that matched, the scoring rule included.
//   - In detect mode nothing is refused: a request that block mode would
//     refuse is reported as [Detected].
//   - A nil *WAF inspects nothing: every request passes.
//
// [Metrics] holds the counter edged_waf_requests_total (by site, route and
// action); the edge handler registers it beside its own series.
package waf
