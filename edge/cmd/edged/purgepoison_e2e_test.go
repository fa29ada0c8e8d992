package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A purge URL that purge.Validate accepts but that is no cache key's
// spelling (a query that is not valid percent-encoding, a path that hides a
// dot segment) was published, and every node's apply of it failed and was
// retried forever: the purge API answered 504, and every later purge on
// every node was accepted and never applied (the node stayed at the bad
// event's sequence, across restarts, since the stream keeps it). Now the
// API refuses such a request with 400 naming the selector and publishes
// nothing, and an event carrying one anyway (from an older node, or a
// raw publisher holding the key) is applied without it, so later purges go
// on.
func TestPurgeUnkeyableURLDoesNotStopTheBus(t *testing.T) {
	f, _, nc := natsNodeWithHits(t, "/x", "/y")

	for _, body := range []string{
		`{"urls":["http://www.example.com/?q=%zz"]}`,
		`{"urls":["http://www.example.com/x"],"prefixes":["http://www.example.com/search?q=50%"]}`,
		`{"urls":["http://www.example.com/static/..;/admin"]}`,
		`{"prefixes":["http://www.example.com/static/..%2Fadmin/"]}`,
	} {
		status, answer := postPurge(t, f, body)
		if status != http.StatusBadRequest || !strings.Contains(answer, "urls[0]") && !strings.Contains(answer, "prefixes[0]") {
			t.Fatalf("purge %s: %d %s, want 400 naming the selector", body, status, answer)
		}
	}
	if !f.hit(t, "/x") {
		t.Fatal("a refused purge removed /x")
	}
	waitApplied(t, f.purge(t, `{"urls":["http://www.example.com/x"]}`), []*fleetNode{f})
	if f.hit(t, "/x") {
		t.Fatal("/x still a hit after its purge")
	}

	// An event carrying such a URL beside a good one, signed with the
	// fleet's key, as a node without the check publishes it.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	id := "0123456789abcdef0123456789abcdef"
	data := fmt.Sprintf(`{"id":%q,"node":"old","time":%q,"request":{"urls":["http://www.example.com/?q=%%zz","http://www.example.com/y"]}}`,
		id, time.Now().UTC().Format(time.RFC3339Nano))
	m := hmac.New(sha256.New, []byte(purgeToken))
	m.Write([]byte("edged purge event v1\n"))
	m.Write([]byte(data))
	msg := &nats.Msg{Subject: "edged.purge", Data: []byte(data), Header: nats.Header{}}
	msg.Header.Set("Edged-Purge-Signature", "v1="+hex.EncodeToString(m.Sum(nil)))
	msg.Header.Set(nats.MsgIdHdr, id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, fmt.Sprintf(`{"seq":%d}`, ack.Sequence), []*fleetNode{f})
	if f.hit(t, "/y") {
		t.Fatal("/y still a hit: the good URL of the event was not applied")
	}
	f.get(t, "/x")
	waitUntil(t, func() bool { return f.hit(t, "/x") })
	waitApplied(t, f.purge(t, `{"urls":["http://www.example.com/x"]}`), []*fleetNode{f})
	if f.hit(t, "/x") {
		t.Fatal("/x still a hit after a purge that follows the event")
	}
}

func postPurge(t testing.TB, f *fleetNode, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.admin+"/purge", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+purgeToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// A host purge that names the scheme's default port ("www.example.com:80",
// as a deploy script that builds it from a URL writes it) purged nothing:
// the edge keys http://www.example.com/ without the port, and the purge
// looked for the prefix http://www.example.com:80/ (answering 200 with a
// count of 0). The host is now normalized as the edge normalizes a Host.
func TestPurgeHostWithDefaultPort(t *testing.T) {
	origin, _ := faultsOrigin(t)
	cfg := nodeConfig(t, "edge", t.TempDir())
	cfg.Upstream.Origin = origin.URL
	f := startFleetNode(t, cfg)
	for _, host := range []string{"www.example.com:80", "WWW.Example.com.:080"} {
		f.get(t, "/x")
		waitUntil(t, func() bool { return f.hit(t, "/x") })
		waitApplied(t, f.purge(t, `{"hosts":["`+host+`"]}`), []*fleetNode{f})
		if f.hit(t, "/x") {
			t.Fatalf("/x still a hit after a purge of host %q", host)
		}
	}
}

// natsNodeWithHits starts a node whose purge bus listens for raw NATS
// clients (the token "fleet-nats-token"), with paths cached as hits, and
// returns it, its origin's fetch count and a connected client.
func natsNodeWithHits(t *testing.T, paths ...string) (*fleetNode, *atomic.Int64, *nats.Conn) {
	t.Helper()
	origin, fetches := faultsOrigin(t)
	natsAddr := freeAddr(t)
	t.Setenv(natsTokenEnv, "fleet-nats-token")
	cfg := nodeConfig(t, "edge", t.TempDir())
	cfg.Upstream.Origin = origin.URL
	cfg.Purge.NATS.Listen = natsAddr
	cfg.Purge.NATS.TokenEnv = natsTokenEnv
	f := startFleetNode(t, cfg)
	for _, p := range paths {
		f.get(t, p)
		waitUntil(t, func() bool { return f.hit(t, p) })
	}
	nc, err := nats.Connect("nats://"+natsAddr, nats.Token("fleet-nats-token"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return f, fetches, nc
}
