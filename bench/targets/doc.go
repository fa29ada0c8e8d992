// Package targets starts, watches and stops the servers a benchmark
// measures, all on 127.0.0.1: the config files of nginx proxy_cache,
// Varnish and edged (rendered from Go values, so they can be tested), the
// processes themselves (each in its own process group, stopped with
// SIGTERM then SIGKILL, never outliving the benchmark), and edged's
// Prometheus metrics.
package targets
