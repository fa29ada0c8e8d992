package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// earlyPurge is an early announcement (purge/early.go) of a URL purge as a
// node of a fleet whose signing key is key sends it: the event JSON,
// signed under the early context.
func earlyPurge(id, url, key string) *nats.Msg {
	data := fmt.Sprintf(`{"id":%q,"node":"test","time":%q,"request":{"urls":[%q]}}`,
		id, time.Now().UTC().Format(time.RFC3339Nano), url)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("edged purge early v1\n"))
	m.Write([]byte(data))
	msg := &nats.Msg{Subject: "edged.purge.early", Data: []byte(data), Header: nats.Header{}}
	msg.Header.Set("Edged-Purge-Signature", "v1="+hex.EncodeToString(m.Sum(nil)))
	return msg
}

// Issue 18: a purge announced early (before JetStream acknowledged it;
// here it is never published to the stream at all) stops a node serving
// the object as a hit to an ordinary request at once; one signed with
// another key does not. On the code before the early path the object
// stayed a hit.
func TestEarlyPurgeHidesFromNormalRequests(t *testing.T) {
	f, originFetches, nc := natsNodeWithHits(t, "/x", "/y")
	for _, msg := range []*nats.Msg{
		earlyPurge("forged", "http://www.example.com/y", "another fleet's key"),
		earlyPurge("0123456789abcdef0123456789abcdef", "http://www.example.com/x", purgeToken),
	} {
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
	const hidden = `edged_purge_early_total{result="hidden"}`
	waitUntil(t, func() bool { return metricValue(t, f.admin, hidden) == 1 })
	if got := metricValue(t, f.admin, `edged_purge_early_total{result="rejected"}`); got != 1 {
		t.Fatalf("rejected early messages = %v, want 1", got)
	}
	before := originFetches.Load()
	if f.hit(t, "/x") {
		t.Fatal("/x served as a hit after its purge was announced")
	}
	if got := originFetches.Load() - before; got != 1 {
		t.Fatalf("origin fetches for the hidden /x = %d, want 1", got)
	}
	if !f.hit(t, "/y") {
		t.Fatal("/y, named only by a forged announcement, is no longer a hit")
	}
}
