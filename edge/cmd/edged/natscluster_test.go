package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// natsCluster is a NATS cluster of real servers run in the test process:
// routes on 127.0.0.1, JetStream on file storage synced on every write,
// users authenticated by nkey.
type natsCluster struct {
	t       testing.TB
	opts    []*server.Options // each server's options, to restart it as it was
	servers []*server.Server
}

// startNATSCluster starts n clustered servers (n = 1: one standalone
// server) that accept the user whose public nkey is user, and waits until
// JetStream has a meta leader.
func startNATSCluster(t testing.TB, n int, user string) *natsCluster {
	t.Helper()
	c := &natsCluster{t: t}
	clusterAddrs := make([]string, n)
	for i := range n {
		clusterAddrs[i] = freeAddr(t)
	}
	for i := range n {
		var routes []string
		for j, a := range clusterAddrs {
			if j != i {
				routes = append(routes, "nats-route://"+a)
			}
		}
		host, port := splitHostPort(t, freeAddr(t))
		chost, cport := splitHostPort(t, clusterAddrs[i])
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       host, Port: port,
			JetStream: true, StoreDir: t.TempDir(), SyncAlways: true,
			NoSigs: true, NoLog: true,
			Nkeys: []*server.NkeyUser{{Nkey: user}},
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "edged-test", Host: chost, Port: cport}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		c.opts = append(c.opts, o)
		c.servers = append(c.servers, nil)
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.servers {
			c.stop(i)
		}
	})
	if n > 1 {
		c.waitMetaLeader()
	}
	return c
}

func splitHostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	var port int
	host, p, _ := strings.Cut(addr, ":")
	if _, err := fmt.Sscan(p, &port); err != nil {
		t.Fatal(err)
	}
	return host, port
}

// start starts server i (again) with its options and store.
func (c *natsCluster) start(i int) {
	c.t.Helper()
	o := *c.opts[i] // the server keeps and changes its options
	s, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("nats server n%d: %v", i, err)
	}
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		c.t.Fatalf("nats server n%d not ready", i)
	}
	c.servers[i] = s
}

// stop shuts server i down, as a machine that dies takes its server away:
// every client and route connection is cut.
func (c *natsCluster) stop(i int) {
	if s := c.servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.servers[i] = nil
	}
}

func (c *natsCluster) url(i int) string {
	return fmt.Sprintf("nats://%s:%d", c.opts[i].Host, c.opts[i].Port)
}

func (c *natsCluster) waitMetaLeader() {
	c.t.Helper()
	waitUntil(c.t, func() bool {
		for _, s := range c.servers {
			if s != nil && s.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
}

// applyRecord is one "purge applied" line of a node's debug log.
type applyRecord struct {
	Node    string        `json:"node"`
	ID      string        `json:"id"`
	Seq     uint64        `json:"seq"`
	Objects int           `json:"objects"`
	Lag     time.Duration `json:"lag"` // from the publisher's Publish call to this apply's end
}

// applyLog collects every node's applied purges from their logs, so the
// test sees exactly what each node applied, in order, and can wait for it.
type applyLog struct {
	mu      sync.Mutex // guards the fields below
	partial []byte
	byNode  map[string][]applyRecord
	changed chan struct{} // closed and replaced at each record
}

func newApplyLog() *applyLog {
	return &applyLog{byNode: map[string][]applyRecord{}, changed: make(chan struct{})}
}

func (l *applyLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break // an unfinished line waits for the next write
		}
		line := l.partial[:i]
		l.partial = l.partial[i+1:]
		var rec struct {
			Msg string `json:"msg"`
			applyRecord
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "purge applied" {
			l.byNode[rec.Node] = append(l.byNode[rec.Node], rec.applyRecord)
			close(l.changed)
			l.changed = make(chan struct{})
		}
	}
	return len(p), nil
}

// records returns a copy of node's records.
func (l *applyLog) records(node string) []applyRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.byNode[node])
}

// waitApplied waits, on the log's records rather than a clock, until every
// node applied seq; it fails the test after timeout.
func (l *applyLog) waitApplied(t testing.TB, nodes []string, seq uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		done := true
		for _, n := range nodes {
			recs := l.byNode[n]
			if len(recs) == 0 || recs[len(recs)-1].Seq < seq {
				done = false
				break
			}
		}
		changed := l.changed
		l.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("not every node applied seq %d within %v", seq, timeout)
		}
	}
}

// nkeyUser writes a new NATS user's nkey seed to a file and returns the
// file and the user's public key.
func nkeyUser(t testing.TB) (seedFile, pub string) {
	t.Helper()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ = user.PublicKey()
	seed, _ := user.Seed()
	seedFile = filepath.Join(t.TempDir(), "edged.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, pub
}

func healthz(t testing.TB, f *fleetNode) string {
	t.Helper()
	resp, err := http.Get(f.admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
