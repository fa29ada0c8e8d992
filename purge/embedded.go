package purge

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embeddedMaxPayload lets one event carry a request of MaxBodySize plus its
// envelope (the NATS default, 1 MiB, is just too small for that).
const embeddedMaxPayload = 4 << 20

// startEmbedded runs a NATS server with JetStream in this process. Its
// JetStream store syncs every write to disk, so an acknowledged purge
// survives a crash of the process or machine.
func startEmbedded(o Options, log *slog.Logger) (*server.Server, error) {
	so := &server.Options{
		JetStream:  true,
		StoreDir:   o.StoreDir,
		SyncAlways: true,
		MaxPayload: embeddedMaxPayload,
		DontListen: o.NATSListen == "",
		NoSigs:     true,
		NoLog:      true,
		// A token, when set, is required from every client, other nodes
		// and this node's in-process connection alike.
		Authorization: o.NATSToken,
	}
	if o.NATSListen != "" {
		host, port, err := net.SplitHostPort(o.NATSListen)
		if err != nil {
			return nil, fmt.Errorf("purge: NATSListen %q: %w", o.NATSListen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < -1 || p > 65535 {
			return nil, fmt.Errorf("purge: NATSListen %q: bad port", o.NATSListen)
		}
		so.Host, so.Port = host, p // port -1: a random free port (server.RANDOM_PORT)
		if p > 0 {
			// The server only logs a failed bind and is then never
			// ready: try the address first, so a busy port is named at
			// once rather than after the readiness timeout.
			ln, err := net.Listen("tcp", o.NATSListen)
			if err != nil {
				return nil, fmt.Errorf("purge: NATS listen address %s: %w", o.NATSListen, err)
			}
			ln.Close()
		}
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("purge: embedded NATS server: %w", err)
	}
	s.SetLoggerV2(serverLogger{log: log.With("component", "nats-server")}, false, false, false)
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		where := "in process"
		if o.NATSListen != "" {
			where = "on " + o.NATSListen
		}
		return nil, fmt.Errorf("purge: embedded NATS server (%s, store %s) did not become ready", where, o.StoreDir)
	}
	return s, nil
}
