package origin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNewPoolValidation(t *testing.T) {
	ok := servers("http://a:80", "http://b:80")
	tests := []struct {
		name    string
		opts    PoolOptions
		wantErr string // substring; "" means valid
	}{
		{"minimal", PoolOptions{Name: "api", Servers: ok}, ""},
		{"every algorithm", PoolOptions{Name: "api", Servers: ok, Algorithm: ConsistentHash}, ""},
		{"full", PoolOptions{Name: "api", Servers: []Server{{URL: "https://a/base/", Weight: 3}, {URL: "http://b"}},
			Algorithm: WeightedRoundRobin, Health: HealthCheck{Path: "/healthz", Interval: time.Second, Expect: 204, Host: "h.example"},
			Ejection: Ejection{Disabled: true}, NoRetries: true, MaxConnsPerHost: 8}, ""},
		{"unknown algorithm", PoolOptions{Name: "api", Servers: ok, Algorithm: "fastest"},
			`origin: pool "api": option Algorithm: unknown algorithm "fastest" (want round_robin, weighted_round_robin, least_conn, consistent_hash, client_ip_hash)`},
		{"no name", PoolOptions{Servers: ok}, `origin: pool "": option Name: required`},
		{"empty pool", PoolOptions{Name: "api"}, `origin: pool "api": option Servers: empty`},
		{"bad URL", PoolOptions{Name: "api", Servers: servers("http://a", "ftp://b")}, `origin: pool "api": option Servers[1].URL: invalid URL "ftp://b": scheme must be http or https`},
		{"no host", PoolOptions{Name: "api", Servers: servers("http://")}, `option Servers[0].URL: invalid URL "http://": no host`},
		{"duplicate", PoolOptions{Name: "api", Servers: servers("http://a:80", "http://A:80/")}, `option Servers[1].URL: repeated server "http://A:80/" (same as servers[0])`},
		{"negative weight", PoolOptions{Name: "api", Servers: []Server{{URL: "http://a", Weight: -1}}}, `option Servers[0].Weight: must be at least 1, got -1`},
		{"retries", PoolOptions{Name: "api", Servers: ok, Retries: -2}, "option Retries"},
		{"negative timeout", PoolOptions{Name: "api", Servers: ok, HeaderTimeout: -1}, "option HeaderTimeout: must be positive, got -1ns"},
		{"negative conns", PoolOptions{Name: "api", Servers: ok, MaxConnsPerHost: -1}, "option MaxConnsPerHost"},
		{"health path", PoolOptions{Name: "api", Servers: ok, Health: HealthCheck{Path: "healthz"}}, `option Health.Path: must start with /, got "healthz"`},
		// RFC 9110 §15: a status is three digits.
		{"health expect", PoolOptions{Name: "api", Servers: ok, Health: HealthCheck{Path: "/h", Expect: 42}}, "option Health.Expect: must be an HTTP status (100 to 599), got 42"},
		{"health rise", PoolOptions{Name: "api", Servers: ok, Health: HealthCheck{Rise: -1}}, "option Health.Rise"},
		{"health host", PoolOptions{Name: "api", Servers: ok, Health: HealthCheck{Host: "a b"}}, "option Health.Host"},
		{"ejection cap", PoolOptions{Name: "api", Servers: ok, Ejection: Ejection{Backoff: time.Minute, MaxBackoff: time.Second}}, "option Ejection.MaxBackoff: must not be less than the backoff (1m0s), got 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPool(tt.opts)
			if p != nil {
				defer p.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("NewPool: %v, want no error", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("NewPool: no error, want one containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("NewPool: %q, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPoolDefaults(t *testing.T) {
	got := PoolOptions{HeaderTimeout: 7 * time.Second}.withDefaults()
	want := []struct {
		name      string
		got, want any
	}{
		{"Retries", got.Retries, 2},
		{"RetryTimeout", got.RetryTimeout, time.Duration(0)}, // no bound but Retries and each try's timeouts
		{"Health.Interval", got.Health.Interval, 10 * time.Second},
		{"Health.Timeout", got.Health.Timeout, 2 * time.Second},
		{"Health.Expect", got.Health.Expect, 200},
		{"Health.Rise", got.Health.Rise, 2},
		{"Health.Fall", got.Health.Fall, 3},
		{"Ejection.Failures", got.Ejection.Failures, 5},
		{"Ejection.Backoff", got.Ejection.Backoff, 30 * time.Second},
		{"Ejection.MaxBackoff", got.Ejection.MaxBackoff, 5 * time.Minute},
		{"MaxIdlePerHost", got.MaxIdlePerHost, 64},
		{"BodyTimeout", got.BodyTimeout, 60 * time.Second},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("%s = %v, want %v", w.name, w.got, w.want)
		}
	}
	if p := newTestPool(t, PoolOptions{Servers: servers("http://a"), NoRetries: true}); p.retries != 0 {
		t.Errorf("Retries -1: %d retries, want 0", p.retries)
	}
}

func TestOptionsPool(t *testing.T) {
	p := newTestPool(t, PoolOptions{Servers: servers("http://a")})
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"pool", Options{Pool: p, Via: "edged"}, ""},
		{"pool with shields and fallback", Options{Pool: p, Shields: []string{"http://s"}, ShieldFallback: true, Via: "edged"}, ""},
		{"origin and pool", Options{Origin: "http://o", Pool: p, Via: "edged"}, "option Pool: set Origin or Pool, not both"},
		{"negative conns", Options{Pool: p, Via: "edged", MaxConnsPerHost: -1}, "option MaxConnsPerHost"},
		{"shield ejection", Options{Pool: p, Via: "edged", ShieldEjection: Ejection{Backoff: -1}}, "option ShieldEjection.Backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if c != nil {
				c.Close()
			}
			if got := ""; err != nil {
				got = err.Error()
				if tt.wantErr == "" || !strings.Contains(got, tt.wantErr) {
					t.Fatalf("New: %q, want %q", got, tt.wantErr)
				}
			} else if tt.wantErr != "" {
				t.Fatalf("New: no error, want %q", tt.wantErr)
			}
		})
	}
}

func TestPoolMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, urls := recorders(t, 2)
	api := newTestPool(t, PoolOptions{Name: "api", Servers: servers(urls...), Registerer: reg})
	// A second pool on the same registry shares the metric vectors.
	static := newTestPool(t, PoolOptions{Name: "static", Servers: servers(urls[0]), Registerer: reg})
	servedBy(t, newTestClient(t, Options{Pool: api}), 4, sameKey)
	servedBy(t, newTestClient(t, Options{Pool: static}), 1, sameKey)
	tests := []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"api s0 requests", api.servers[0].metrics.requests, 2},
		{"api s1 requests", api.servers[1].metrics.requests, 2},
		{"static s0 requests", static.servers[0].metrics.requests, 1},
		{"api s0 up", api.servers[0].metrics.up, 1},
		{"api s0 ejections", api.servers[0].metrics.ejections, 0},
	}
	for _, tt := range tests {
		if got := testutil.ToFloat64(tt.c); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "edged_origin_requests_total"); err != nil || n != 3 {
		t.Errorf("edged_origin_requests_total has %d series (%v), want 3", n, err)
	}
	// Every request got its response headers: each is one latency sample,
	// under its pool and server.
	want := map[string]uint64{"api " + urls[0]: 2, "api " + urls[1]: 2, "static " + urls[0]: 1}
	if got := latencyCounts(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("edged_origin_response_seconds samples %v, want %v", got, want)
	}
}
