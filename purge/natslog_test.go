package purge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"edged/internal/logtest"
)

// Issue 12, finding 4: a node with a wrong NATS token logged only that the
// bus was unreachable, and the listening node nothing. Both now name the
// token.
func TestWrongNATSTokenIsNamedOnBothSides(t *testing.T) {
	shieldLogs, edgeLogs := &logtest.Buffer{}, &logtest.Buffer{}
	shield := startBus(t, Options{NATSListen: "127.0.0.1:-1", Node: "shield", Logger: debugLogger(shieldLogs)})
	edge := newBus(t, Options{NATSURL: shield.ClientURL(), NATSToken: "wrong", Node: "edge", Token: "s3cret", Logger: debugLogger(edgeLogs)})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := edge.Start(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start with a wrong token = %v, want ErrUnavailable", err)
	}
	waitFor(t, "the edge to name the token", func() bool {
		out := edgeLogs.String()
		return strings.Contains(out, "level=ERROR") && strings.Contains(out, "Authorization Violation") && strings.Contains(out, "EDGED_NATS_TOKEN")
	})
	waitFor(t, "the edge's Problem (its /healthz) to name the token", func() bool {
		return strings.Contains(edge.Problem(), "EDGED_NATS_TOKEN")
	})
	// A purge sent to the edge meanwhile is refused, naming the token too,
	// not only "not connected to NATS".
	if _, err := edge.Publish(ctx, Request{All: true}); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "Authorization Violation") || !strings.Contains(err.Error(), "EDGED_NATS_TOKEN") {
		t.Errorf("Publish with a refused token = %v, want ErrUnavailable naming the token", err)
	}
	waitFor(t, "the shield to name the token", func() bool {
		out := shieldLogs.String()
		return strings.Contains(out, "wrong or missing NATS token") && strings.Contains(out, "EDGED_NATS_TOKEN")
	})
	if n := strings.Count(edgeLogs.String(), "Authorization Violation"); n != 1 {
		t.Errorf("the edge logged the refusal %d times, want once per outage", n)
	}
	if strings.Contains(shieldLogs.String()+edgeLogs.String(), testNATSToken) {
		t.Error("logs contain the NATS token")
	}
	// The purge API's 503 gives the cause, and says "purge bus
	// unavailable" once.
	srv := httptest.NewServer(edge.Handler())
	defer srv.Close()
	code, body := post(t, srv.URL+"/purge", "s3cret", `{"all":true}`)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "EDGED_NATS_TOKEN") || strings.Count(body, "purge bus unavailable") != 1 {
		t.Errorf("POST /purge with a refused NATS token: %d %s", code, body)
	}
}

// Issue 12, findings 5 and 13: a busy -nats-listen address is named at
// once (it took 10s and named only the store), and the address the server
// listens on for other nodes is logged, not nats.go's in-process URL.
func TestNATSListenAddressIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	b := newBus(t, Options{NATSListen: busy})
	start := time.Now()
	err = b.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), busy) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start on a busy address = %v, want an error naming %s as in use", err, busy)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Start took %v to report a busy address", took)
	}

	logs := &logtest.Buffer{}
	ok := startBus(t, Options{NATSListen: "127.0.0.1:-1", Logger: debugLogger(logs)})
	out := logs.String()
	if !strings.Contains(out, "listening for other nodes") || !strings.Contains(out, ok.ClientURL()) {
		t.Errorf("the listen address %s is not logged:\n%s", ok.ClientURL(), out)
	}
	if strings.Contains(out, "in-process:4222") {
		t.Errorf("the log names nats://in-process:4222, an address nothing listens on:\n%s", out)
	}
}
