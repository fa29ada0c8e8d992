package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edged/bench/procstat"
	"edged/bench/report"
	"edged/bench/stats"
	"edged/bench/targets"
)

// CONNECT tunnel throughput: a sink that sends as fast as it can, read
// through each proxy's tunnels and over direct connections.

// tunnelSink is a TCP server that sends bytes as fast as it can to every
// connection until the peer closes it: the far end of the tunnels.
type tunnelSink struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startTunnelSink() (*tunnelSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tunnel sink: %w", err)
	}
	s := &tunnelSink{ln: ln}
	buf := make([]byte, 256<<10)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return s, nil
}

func (s *tunnelSink) addr() string { return s.ln.Addr().String() }
func (s *tunnelSink) port() int    { return targets.Port(s.addr()) }
func (s *tunnelSink) close()       { s.ln.Close(); s.wg.Wait() }

// dialTunnel opens a connection to the sink: directly when proxy is "",
// else through a CONNECT tunnel (RFC 9110 §9.3.6) of the proxy at
// host:port proxy.
func dialTunnel(ctx context.Context, proxy, dest string) (net.Conn, io.Reader, error) {
	var d net.Dialer
	if proxy == "" {
		c, err := d.DialContext(ctx, "tcp", dest)
		return c, c, err
	}
	c, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", dest, dest)
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("CONNECT through %s: %w", proxy, err)
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, nil, fmt.Errorf("CONNECT through %s: status %d", proxy, resp.StatusCode)
	}
	return c, br, nil
}

// tunnelRate reads from streams tunnels (or direct connections) at once
// for dur and returns MB/s (10^6 bytes) over all of them.
func tunnelRate(ctx context.Context, proxy, dest string, streams int, dur time.Duration) (float64, error) {
	var total atomic.Int64
	errs := make([]error, streams)
	conns := make([]net.Conn, streams)
	readers := make([]io.Reader, streams)
	for i := range streams {
		c, r, err := dialTunnel(ctx, proxy, dest)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return 0, err
		}
		conns[i], readers[i] = c, r
	}
	start := time.Now()
	deadline := start.Add(dur)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conns[i].Close()
			_ = conns[i].SetReadDeadline(deadline)
			buf := make([]byte, 256<<10)
			for {
				n, err := readers[i].Read(buf)
				total.Add(int64(n))
				if err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						errs[i] = err
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds() / 1e6, nil
}

// tunnelStreams are the concurrent tunnels measured.
var tunnelStreams = []int{1, 8}

// tunnelCPU is what one tunnel run cost: CPU seconds per GB (10^9 bytes)
// moved, spent by edgebench itself (the sink and the reading client, one
// process) and by the proxy. On a machine whose cores the three share, a
// relay's throughput is bounded by these sums, not by the relay's speed
// alone (docs/forward.md, "Tunnel throughput").
type tunnelCPU struct{ bench, proxy float64 }

// measureTunnel runs tunnelRate and samples the CPU time of edgebench and
// of the proxy process (pid 0: none) around it.
func measureTunnel(ctx context.Context, proxy string, pid int, dest string, streams int, dur time.Duration) (float64, tunnelCPU, error) {
	var pr procstat.Reader
	cpu := func(pid int) time.Duration {
		if pid == 0 {
			return 0
		}
		u, err := pr.Sample(pid)
		if err != nil {
			return 0
		}
		return u.CPU
	}
	self := os.Getpid()
	b0, p0 := cpu(self), cpu(pid)
	start := time.Now()
	mbps, err := tunnelRate(ctx, proxy, dest, streams, dur)
	gb := mbps * time.Since(start).Seconds() / 1e3
	b1, p1 := cpu(self), cpu(pid)
	if err != nil || gb <= 0 {
		return mbps, tunnelCPU{}, err
	}
	return mbps, tunnelCPU{bench: (b1 - b0).Seconds() / gb, proxy: (p1 - p0).Seconds() / gb}, nil
}

// runTunnels measures CONNECT throughput through each proxy against a
// direct connection to the same sink, alternating targets, with the CPU
// each party spent per GB.
func (b *bench) runTunnels(ctx context.Context, f *forwardFleet) (report.Section, error) {
	sec := report.Section{Title: "Forward proxy: CONNECT tunnel throughput (MB/s from the far end to the client, median [min–max]; CPU s/GB: edgebench's sink and client, the proxy)"}
	logf("scenario: CONNECT tunnels")
	f.tunnelMBps = map[string]map[int]stats.Spread{}
	type tgt struct {
		name, proxy, skip string
		pid               int
	}
	ts := []tgt{{name: tDirect}}
	for _, t := range f.proxies {
		x := tgt{name: t.name, proxy: strings.TrimPrefix(t.base, "http://"), skip: t.skip}
		if t.proc != nil {
			x.pid = t.proc.PID()
		}
		ts = append(ts, x)
	}
	for _, streams := range tunnelStreams {
		got := map[string][]float64{}
		cpuBench, cpuProxy := map[string][]float64{}, map[string][]float64{}
		for range b.o.reps {
			for _, t := range ts {
				if t.skip != "" {
					continue
				}
				mbps, cpu, err := measureTunnel(ctx, t.proxy, t.pid, f.sink.addr(), streams, b.o.duration)
				if err != nil {
					return sec, fmt.Errorf("tunnels through %s: %w", t.name, err)
				}
				got[t.name] = append(got[t.name], mbps)
				cpuBench[t.name] = append(cpuBench[t.name], cpu.bench)
				cpuProxy[t.name] = append(cpuProxy[t.name], cpu.proxy)
			}
		}
		direct := stats.Of(got[tDirect])
		directCPU := stats.Of(cpuBench[tDirect]).Median
		for _, t := range ts {
			if t.skip != "" {
				sec.Lines = append(sec.Lines, fmt.Sprintf("%d stream(s), %s: skipped (%s)", streams, t.name, t.skip))
				continue
			}
			sp := stats.Of(got[t.name])
			if f.tunnelMBps[t.name] == nil {
				f.tunnelMBps[t.name] = map[int]stats.Spread{}
			}
			f.tunnelMBps[t.name][streams] = sp
			line := fmt.Sprintf("%d stream(s), %s: %.0f MB/s [%.0f–%.0f]", streams, t.name, sp.Median, sp.Min, sp.Max)
			cb, cp := stats.Of(cpuBench[t.name]).Median, stats.Of(cpuProxy[t.name]).Median
			if t.name == tDirect {
				line += fmt.Sprintf("; CPU %.2f s/GB (sink and client)", cb)
			} else {
				// With every core busy, throughput goes as 1/(CPU per GB):
				// directCPU/(cb+cp) is the ratio the cores allow.
				line += fmt.Sprintf(", %.2f× direct; CPU %.2f s/GB (sink and client %.2f, proxy %.2f): %.2f× direct's CPU per byte",
					sp.Median/direct.Median, cb+cp, cb, cp, (cb+cp)/directCPU)
			}
			sec.Lines = append(sec.Lines, line)
		}
	}
	return sec, nil
}
