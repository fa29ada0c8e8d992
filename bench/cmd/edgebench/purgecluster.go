package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"edged/bench/targets"
)

// clusterNodes is the size of the clustered purge fleet: five edges and
// two shields' worth of nodes, as in edged's cluster test (issue 18).
const clusterNodes = 7

// runPurgeCluster is runPurge on a three-server NATS cluster run inside
// edgebench (routes on 127.0.0.1, JetStream on file storage with sync
// always, the purge stream replicated three ways), node i connected to
// server i mod 3: what a fleet that outgrew one NATS server pays per purge.
func (b *bench) runPurgeCluster(ctx context.Context, res *results) error {
	title := fmt.Sprintf("Purge propagation across %d nodes on a 3-server NATS cluster", clusterNodes)
	logf("scenario: purge propagation on a NATS cluster")
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	fleets, err := b.purgeFleets(func() (func(int) string, error) {
		urls, stop, err := b.startNATSCluster(3)
		stops = append(stops, stop)
		if err != nil {
			return nil, err
		}
		return func(i int) string {
			return fmt.Sprintf("purge:\n  token: %q\n  nats:\n    urls: [%s]\n    replicas: 3\n", b.o.token, urls[i%len(urls)])
		}, nil
	})
	if err != nil {
		return err
	}
	procs := clusterNodeProcs()
	ms, err := b.measurePurge(ctx, "purge-cluster", clusterNodes, procs, fleets)
	if err != nil {
		return err
	}
	res.purgeClusterSkip = ms[0].skip
	res.purgeClusterP99 = msf(ms[0].lat.P99)
	res.sections = append(res.sections, purgeSection(title, ms, clusterNodes,
		fmt.Sprintf(" (each node on its own server of the cluster, stream R3, fsync on every write; each node at GOMAXPROCS=%d, the %d sharing this machine's %d cores)",
			procs, clusterNodes, runtime.NumCPU())))
	return nil
}

// clusterNodeProcs is the GOMAXPROCS of each node of the clustered purge
// fleet: the nodes share the machine's cores between them, as each would
// have cores of its own in a real fleet (the NATS servers run inside
// edgebench). At Go's default the seven nodes ran two Ps each on the
// bench's two cores; with rounds alternating in one run, seven nodes at
// GOMAXPROCS=1 purged in 4.63 ms at p50, 9.47 at p90 and 28.9 at p99
// where seven at the default took 6.56, 13.92 and 37.1, and in two more
// runs 4.23/8.12 against 5.92/10.98 and 5.06/9.53 against 7.00/14.66 (p50,
// p90) with fewer rounds over 15 ms (issue 18). The likely cause is the
// runtime waking a thread for an idle P whenever work arrives, threads
// that then queue for the same two cores.
func clusterNodeProcs() int {
	return max(1, runtime.NumCPU()/clusterNodes)
}

// startNATSCluster runs n clustered NATS servers with JetStream in this
// process and returns their client URLs once JetStream has a leader.
func (b *bench) startNATSCluster(n int) (urls []string, stop func(), err error) {
	var servers []*server.Server
	stop = func() {
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	// Each cluster (one per fleet, see purgeFleets) has its own stores.
	dir, err := os.MkdirTemp(b.dir, "nats-cluster-")
	if err != nil {
		return nil, stop, err
	}
	routes := make([]string, n)
	for i := range routes {
		addr, err := targets.FreeAddr()
		if err != nil {
			return nil, stop, err
		}
		routes[i] = addr
	}
	for i := range n {
		client, err := targets.FreeAddr()
		if err != nil {
			return nil, stop, err
		}
		host, port, _ := net.SplitHostPort(client)
		p, _ := strconv.Atoi(port)
		_, rport, _ := net.SplitHostPort(routes[i])
		rp, _ := strconv.Atoi(rport)
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, "nats-route://"+r)
			}
		}
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("bench-n%d", i), Host: host, Port: p,
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i)), SyncAlways: true,
			NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "edgebench", Host: host, Port: rp},
			Routes:  server.RoutesFromStr(strings.Join(others, ",")),
		})
		if err != nil {
			return nil, stop, fmt.Errorf("nats server %d: %w", i, err)
		}
		s.Start()
		servers = append(servers, s)
		urls = append(urls, "nats://"+client)
	}
	for i, s := range servers {
		if !s.ReadyForConnections(30 * time.Second) {
			return nil, stop, fmt.Errorf("nats server %d not ready", i)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !hasMetaLeader(servers) {
		if time.Now().After(deadline) {
			return nil, stop, fmt.Errorf("NATS cluster: no JetStream leader within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return urls, stop, nil
}

func hasMetaLeader(servers []*server.Server) bool {
	for _, s := range servers {
		if s.JetStreamIsLeader() {
			return true
		}
	}
	return false
}
