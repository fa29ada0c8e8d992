package purge

import (
	"crypto/sha256"
	"crypto/subtle"
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
	}
	if o.NATSToken != "" {
		// A token, when set, is required from every client, other nodes
		// and this node's in-process connection alike.
		so.CustomClientAuthentication = tokenAuth{token: []byte(o.NATSToken), stream: o.Stream}
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

// tokenAuth admits the clients that send the NATS token, with every right
// but those no node uses and that let a client undo purges or cost the
// fleet its caches: deleting the purge stream (every node then takes the
// new stream for lost events and marks its whole cache stale, as often as
// the client deletes it), purging it, or deleting one of its events (a node
// that had not applied it loses it; the last one held every node that
// missed it at its start). Token authorization alone gives a token holder
// the whole JetStream API. Nodes create, look up and update the stream,
// make consumers and read events back, which stay allowed.
type tokenAuth struct {
	token  []byte
	stream string
}

// Check compares the token in constant time, on SHA-256 digests so that
// the time does not depend on its length either, and registers the
// client's permissions.
func (a tokenAuth) Check(c server.ClientAuthentication) bool {
	want, got := sha256.Sum256(a.token), sha256.Sum256([]byte(c.GetOpts().Token))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return false
	}
	c.RegisterUser(&server.User{
		Username: "edged",
		Permissions: &server.Permissions{Publish: &server.SubjectPermission{
			Allow: []string{">"},
			Deny: []string{
				"$JS.API.STREAM.DELETE." + a.stream,
				"$JS.API.STREAM.PURGE." + a.stream,
				"$JS.API.STREAM.MSG.DELETE." + a.stream,
			},
		}},
	})
	return true
}
