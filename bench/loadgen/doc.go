// Package loadgen drives load at an HTTP server on loopback: a closed-loop
// Go load generator that times every request (Run), a runner for wrk that
// parses its report (Wrk), and Zipf-distributed keys (Zipf).
//
// Every run is bounded twice: by a duration and by a request count, and
// stops early when its context is cancelled.
package loadgen
