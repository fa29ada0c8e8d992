package purge

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
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
// survives a crash of the process or machine. It returns the secret this
// node's own, in-process connection authenticates with (embeddedAuth).
func startEmbedded(o Options, log *slog.Logger) (*server.Server, string, error) {
	local, err := localSecret()
	if err != nil {
		return nil, "", err
	}
	so := &server.Options{
		JetStream:  true,
		StoreDir:   o.StoreDir,
		SyncAlways: true,
		MaxPayload: embeddedMaxPayload,
		DontListen: o.NATSListen == "",
		NoSigs:     true,
		NoLog:      true,
		// Every client, this node's in-process connection included, is
		// admitted here, with the rights embeddedAuth gives it.
		CustomClientAuthentication: embeddedAuth{
			token:   []byte(o.NATSToken),
			local:   []byte(local),
			streams: append([]string{o.Stream}, o.GuardStreams...),
		},
	}
	if o.NATSListen != "" {
		host, port, err := net.SplitHostPort(o.NATSListen)
		if err != nil {
			return nil, "", fmt.Errorf("purge: NATSListen %q: %w", o.NATSListen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < -1 || p > 65535 {
			return nil, "", fmt.Errorf("purge: NATSListen %q: bad port", o.NATSListen)
		}
		so.Host, so.Port = host, p // port -1: a random free port (server.RANDOM_PORT)
		if p > 0 {
			// The server only logs a failed bind and is then never
			// ready: try the address first, so a busy port is named at
			// once rather than after the readiness timeout.
			ln, err := net.Listen("tcp", o.NATSListen)
			if err != nil {
				return nil, "", fmt.Errorf("purge: NATS listen address %s: %w", o.NATSListen, err)
			}
			ln.Close()
		}
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, "", fmt.Errorf("purge: embedded NATS server: %w", err)
	}
	s.SetLoggerV2(serverLogger{log: log.With("component", "nats-server")}, false, false, false)
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		where := "in process"
		if o.NATSListen != "" {
			where = "on " + o.NATSListen
		}
		return nil, "", fmt.Errorf("purge: embedded NATS server (%s, store %s) did not become ready", where, o.StoreDir)
	}
	return s, local, nil
}

// localSecret is a random secret, new in each process, that only this
// node's in-process connection sends.
func localSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("purge: embedded NATS server: local secret: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// embeddedAuth admits the embedded server's clients. Token authorization
// alone would give a token holder the whole JetStream API; the token is
// shared by every node, and a leaked one by more, so a client holding it
// gets every right but those no node needs and that let it undo purges or
// cost the fleet its caches or certificates, on each guarded stream (the
// purge stream, and GuardStreams: the ACME buckets' streams):
//
//   - deleting or purging the stream, or deleting one of its messages:
//     every node takes a purge stream deleted or purged for lost events and
//     marks its whole cache stale, as often as the client does it, and a
//     node that had not applied a deleted event loses it; every node loses
//     the ACME certificates and account and orders new ones, which soon
//     meets the CA's rate limits;
//   - deleting or pausing a node's consumer of the purge stream, which
//     holds up that node's applies;
//   - updating the stream's settings (a short max age, max messages or
//     duplicate window removes events before late nodes apply them, or
//     opens the replay check's window) or creating it (before a node does,
//     with settings of the client's choosing), or restoring it from a
//     snapshot;
//   - receiving the JetStream API's requests (subscribing to $JS.API.>):
//     a client that gets a node's request for the stream's info can
//     answer it before the server, with another creation time or first
//     sequence, and the node marks its whole cache stale.
//
// The node that embeds the server, connected in process with the secret
// local (new in each process, never sent over a network), creates the
// streams and sets their settings: everything but deleting or purging them,
// deleting messages or the purge stream's consumers, or pausing those,
// which no node does. With no token (no listener, or one allowed without
// authentication) every other client gets a token holder's rights.
type embeddedAuth struct {
	token   []byte   // the NATS token; empty: none required
	local   []byte   // the in-process connection's secret
	streams []string // the guarded streams, the purge stream first
}

var _ server.Authentication = embeddedAuth{}

// Check compares the secrets in constant time, on SHA-256 digests so that
// the time does not depend on their length either, and registers the
// client's permissions.
func (a embeddedAuth) Check(c server.ClientAuthentication) bool {
	got := []byte(c.GetOpts().Token)
	switch {
	case inProcess(c) && equalSecret(a.local, got):
		c.RegisterUser(&server.User{Username: "edged-local", Permissions: a.permissions(false)})
	case len(a.token) == 0 || equalSecret(a.token, got):
		c.RegisterUser(&server.User{Username: "edged", Permissions: a.permissions(true)})
	default:
		return false
	}
	return true
}

// permissions allow everything but what embeddedAuth says, for a token
// holder (remote) or this node's own connection.
func (a embeddedAuth) permissions(remote bool) *server.Permissions {
	ops := []string{"STREAM.DELETE.", "STREAM.PURGE.", "STREAM.MSG.DELETE."}
	if remote {
		ops = append(ops, "STREAM.UPDATE.", "STREAM.CREATE.", "STREAM.RESTORE.")
	}
	var deny []string
	for _, s := range a.streams {
		for _, op := range ops {
			deny = append(deny, "$JS.API."+op+s)
		}
	}
	// Nodes never delete or pause the purge stream's consumers (the server
	// drops a session's once it is idle); another client doing it would
	// hold up a node's applies. (The ACME buckets' are deleted by nats.go
	// when a key listing ends.)
	deny = append(deny, "$JS.API.CONSUMER.DELETE."+a.streams[0]+".>", "$JS.API.CONSUMER.PAUSE."+a.streams[0]+".>")
	perms := &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: deny}}
	if remote {
		// A client that receives the JetStream API's requests can answer
		// them before the server does: a node's request for the stream's
		// info answered with another creation time or a later first
		// sequence made it mark its whole cache stale, as a deleted
		// stream did, and a pull request answered with a made-up delivery
		// claimed a stream sequence. Nodes only send such requests (the
		// answers come to their inboxes); nothing of edged subscribes to
		// them. A wildcard subscription (">") is allowed and is not sent
		// these subjects (the server checks deny at delivery).
		perms.Subscribe = &server.SubjectPermission{Deny: []string{"$JS.API.>"}}
	}
	return perms
}

// inProcess reports whether c came through the server's in-process
// connection (a net.Pipe), which only code in this process can open.
func inProcess(c server.ClientAuthentication) bool {
	addr := c.RemoteAddress()
	return addr != nil && addr.Network() == "pipe"
}

func equalSecret(want, got []byte) bool {
	w, g := sha256.Sum256(want), sha256.Sum256(got)
	return subtle.ConstantTimeCompare(w[:], g[:]) == 1
}
