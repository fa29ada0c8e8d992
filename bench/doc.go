// Package bench holds edged's end-to-end benchmarks: edged side by side with
// the test origin, a minimal Go server (the ceiling), nginx proxy_cache and
// Varnish, and edged's forward role beside Squid, on loopback, in one run. It has no code of its own; the parts are:
//
//   - cmd/edgebench: the side-by-side run (make bench, make bench-quick)
//   - cmd/benchorigin: the test origin (counts fetches) and the ceiling server
//   - loadgen: the built-in load generator, the wrk runner, the Zipf keys
//   - stats: percentiles, medians and min–max
//   - procstat: CPU time and peak RSS of a process tree from /proc
//   - targets: nginx, Varnish, Squid and edged configs and process lifecycles
//   - report: the markdown table and the SVG chart
//
// Micro-benchmarks stay beside the code they measure (go test -bench).
package bench
