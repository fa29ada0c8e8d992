package purge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"edged/internal/logtest"
)

// startPlainServer runs a NATS server without JetStream on 127.0.0.1:port:
// every session of a bus connected to it fails (no stream can exist).
func startPlainServer(t testing.TB, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true, Authorization: testNATSToken})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return s
}

// Issue 18: on the cluster test (under -race, on a loaded machine) an edge
// restarted while its server was busy served before it had applied the 10
// purges it missed: its first session's request timed out, and Start gave
// up at that first failure. Start now rides out failures for
// startGrace, the run loop trying sessions again meanwhile, and returns
// once caught up.
func TestStartRidesOutATransientSessionFailure(t *testing.T) {
	port := freePort(t)
	plain := startPlainServer(t, port)
	logs := &logtest.Buffer{}
	b := newBus(t, Options{NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", port), Logger: debugLogger(logs)})
	started := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		started <- b.Start(ctx)
	}()
	waitFor(t, "a failed session", func() bool { return strings.Contains(logs.String(), "session failed") })
	plain.Shutdown()
	plain.WaitForShutdown()
	startServer(t, t.TempDir(), port) // the same address, with JetStream now
	if err := <-started; err != nil {
		t.Fatalf("Start = %v, want nil once the bus caught up", err)
	}
}

// A session that keeps failing still lets Start return, with
// ErrUnavailable, so that the node serves.
func TestStartGivesUpOnAPersistentSessionFailure(t *testing.T) {
	port := freePort(t)
	startPlainServer(t, port)
	b := newBus(t, Options{NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", port)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := b.Start(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Start took %v, want about startGrace", took)
	}
}

// denyHello admits every client but refuses it the hellos' subject, as a
// cluster whose permissions leave one of the node's subjects out does.
type denyHello struct{}

func (denyHello) Check(c server.ClientAuthentication) bool {
	c.RegisterUser(&server.User{Username: "node", Permissions: &server.Permissions{
		Subscribe: &server.SubjectPermission{Deny: []string{"edged.purge.hello"}},
	}})
	return true
}

// A subject the node's NATS user may not use is an ERROR that says what the
// operator must change; before, the refusal went by as a WARN of the bare
// error (ops2 met it on a cluster set up with the permissions the docs then
// listed, which left out the early announcements' subject).
func TestRefusedSubjectIsAnError(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, CustomClientAuthentication: denyHello{}})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	logs := &logtest.Buffer{}
	startBus(t, Options{NATSURL: s.ClientURL(), Logger: debugLogger(logs)})
	waitFor(t, "the refusal logged", func() bool { return strings.Contains(logs.String(), "edged.purge.hello") })
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "edged.purge.hello") && (!strings.Contains(line, "level=ERROR") || !strings.Contains(line, "docs/purge.md")) {
			t.Errorf("log line %q, want an ERROR pointing at the permissions to give", line)
		}
	}
}
