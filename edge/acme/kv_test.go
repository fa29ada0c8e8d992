package acme

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edged/internal/logtest"
)

// testJetStream returns a JetStream context on a new connection to s: each
// call is another node.
func testJetStream(t *testing.T, s *server.Server, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// testServer runs a NATS server with JetStream on 127.0.0.1; with users,
// only they may connect.
func testServer(t *testing.T, users ...*server.User) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// TestKVStorage checks the certmagic.Storage contract: values, directories
// made of key prefixes, fs.ErrNotExist for what is missing, and keys with
// the characters certmagic uses (".", "@", ":") kept as they are.
func TestKVStorage(t *testing.T) {
	ctx := context.Background()
	srv := testServer(t)
	a := NewKVStorage(testJetStream(t, srv), KVOptions{})
	b := NewKVStorage(testJetStream(t, srv), KVOptions{}) // another node
	keys := []string{
		"certificates/ca.example-dir/www.example.com/www.example.com.crt",
		"certificates/ca.example-dir/www.example.com/www.example.com.key",
		"acme/ca.example-dir/users/ops@example.com/ops.json",
		"x=y:z",
	}
	if _, err := a.Stat(ctx, "none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat in an empty bucket: %v, want fs.ErrNotExist", err)
	}
	for _, k := range keys {
		if err := a.Store(ctx, k, []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		got, err := b.Load(ctx, k)
		if err != nil || string(got) != "value of "+k {
			t.Errorf("Load(%q) = %q, %v", k, got, err)
		}
	}
	if _, err := b.Load(ctx, "certificates/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}
	if !b.Exists(ctx, "certificates/ca.example-dir") || b.Exists(ctx, "certificates/ca") || b.Exists(ctx, "none") {
		t.Error("Exists: directories are key prefixes ending at a /")
	}
	info, err := b.Stat(ctx, keys[0])
	if err != nil || !info.IsTerminal || info.Size != int64(len("value of "+keys[0])) || time.Since(info.Modified) > time.Minute {
		t.Errorf("Stat(file) = %+v, %v", info, err)
	}
	if info, err := b.Stat(ctx, "certificates/ca.example-dir"); err != nil || info.IsTerminal {
		t.Errorf("Stat(dir) = %+v, %v", info, err)
	}
	if _, err := b.Stat(ctx, "none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing key: %v, want fs.ErrNotExist", err)
	}

	list, err := b.List(ctx, "certificates", false)
	if want := []string{"certificates/ca.example-dir"}; err != nil || !slices.Equal(list, want) {
		t.Errorf("List non-recursive = %v, %v; want %v", list, err, want)
	}
	list, err = b.List(ctx, "certificates/ca.example-dir", true)
	slices.Sort(list)
	if want := []string{"certificates/ca.example-dir/www.example.com", keys[0], keys[1]}; err != nil || !slices.Equal(list, want) {
		t.Errorf("List recursive = %v, %v; want %v", list, err, want)
	}
	if _, err := b.List(ctx, "none", true); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing directory: %v, want fs.ErrNotExist", err)
	}

	// Deleting a directory deletes what is under it, and only that.
	if err := b.Delete(ctx, "certificates/ca.example-dir/www.example.com"); err != nil {
		t.Fatal(err)
	}
	if a.Exists(ctx, keys[0]) || a.Exists(ctx, keys[1]) || !a.Exists(ctx, keys[2]) {
		t.Error("Delete of a directory")
	}
	if err := a.Delete(ctx, "none"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
}

// TestKVLock: a lock held by one node keeps another waiting until it is
// released, however long the holder keeps it (it refreshes it); the lock
// of a node that died, never released, frees itself after LockTTL.
func TestKVLock(t *testing.T) {
	ctx := context.Background()
	srv := testServer(t)
	const ttl = time.Second
	a := NewKVStorage(testJetStream(t, srv), KVOptions{LockTTL: ttl, Owner: "a"})
	b := NewKVStorage(testJetStream(t, srv), KVOptions{LockTTL: ttl, Owner: "b"})

	if err := a.Lock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatal(err)
	}
	// Three TTLs: a's refreshes keep the lock alive past its TTL.
	waitCtx, cancel := context.WithTimeout(ctx, 3*ttl)
	err := b.Lock(waitCtx, "issue_cert_www.example.com")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b took a's lock: %v", err)
	}
	if err := b.Lock(ctx, "issue_cert_other.example.com"); err != nil {
		t.Fatalf("another name's lock: %v", err)
	}
	if err := a.Unlock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel = context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Lock(waitCtx, "issue_cert_www.example.com"); err != nil {
		t.Fatalf("b did not get the released lock: %v", err)
	}
	if err := a.Unlock(ctx, "issue_cert_www.example.com"); err == nil {
		t.Error("a released a lock it does not hold")
	}

	// b dies holding the lock: its refresher stops, nothing releases it.
	b.mu.Lock()
	h := b.held["issue_cert_www.example.com"]
	b.mu.Unlock()
	close(h.stop)
	<-h.done
	start := time.Now()
	if err := a.Lock(waitCtx, "issue_cert_www.example.com"); err != nil {
		t.Fatalf("the dead node's lock did not expire: %v", err)
	}
	t.Logf("dead node's lock taken over after %v (TTL %v)", time.Since(start).Round(time.Millisecond), ttl)
}

func TestKeyEncoding(t *testing.T) {
	for _, k := range []string{"a/b.c", "users/ops@example.com/x.json", "127.0.0.1:14000-dir", "=41", "*>. ", "plain-key_1"} {
		enc := encodeKey(k)
		for _, c := range []byte(enc) {
			if c == '.' || c == '*' || c == '>' || c == ' ' || c == '@' || c == ':' {
				t.Errorf("encodeKey(%q) = %q keeps %q", k, enc, c)
			}
		}
		if dec, ok := decodeKey(enc); !ok || dec != k {
			t.Errorf("decodeKey(encodeKey(%q)) = %q, %v", k, dec, ok)
		}
	}
	for _, bad := range []string{"a=4", "a=zz"} {
		if _, ok := decodeKey(bad); ok {
			t.Errorf("decodeKey(%q) accepted", bad)
		}
	}
}

// TestKVBucketsCannotBeEmptied: no client, whatever its NATS rights, can
// empty the buckets and so make every node of the fleet lose its
// certificates, keys and account and order them again (soon meeting the
// CA's rate limits): the buckets' streams deny purges, message deletes and
// roll-ups, and a bucket made before (by nats.go, with roll-ups allowed)
// is set so on first use. Before, a purge of the stream, or one message
// with "Nats-Rollup: all", emptied it. certmagic's own operations still
// work: put, get, delete, list and the locks.
func TestKVBucketsCannotBeEmptied(t *testing.T) {
	ctx := context.Background()
	srv := testServer(t)
	js := testJetStream(t, srv)
	// The buckets as the previous version made them.
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "EDGED_ACME", History: 1, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	a := NewKVStorage(testJetStream(t, srv), KVOptions{})
	const key = "certificates/ca/www.example.com/www.example.com.key"
	if err := a.Store(ctx, key, []byte("the key")); err != nil {
		t.Fatal(err)
	}
	if err := a.Store(ctx, "certificates/ca/old.example.com/old.crt", []byte("old")); err != nil {
		t.Fatal(err)
	}

	for _, name := range (KVOptions{}).Streams() {
		stream, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Purge(ctx); err == nil {
			t.Errorf("%s: the stream was purged", name)
		}
		if err := stream.DeleteMsg(ctx, 1); err == nil {
			t.Errorf("%s: a message was deleted", name)
		}
	}
	rollup := nats.NewMsg("$KV.EDGED_ACME.x")
	rollup.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupAll)
	if _, err := js.PublishMsg(ctx, rollup); err == nil {
		t.Error("a roll-up message was taken")
	}
	kv, err := js.KeyValue(ctx, "EDGED_ACME")
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, encodeKey(key)); err == nil {
		t.Error("a key was purged (a roll-up of its subject)")
	}
	if got, err := a.Load(ctx, key); err != nil || string(got) != "the key" {
		t.Fatalf("after the attempts, Load = %q, %v", got, err)
	}

	// What certmagic does still works, on this node and another.
	b := NewKVStorage(testJetStream(t, srv), KVOptions{})
	if err := b.Delete(ctx, "certificates/ca/old.example.com"); err != nil {
		t.Fatal(err)
	}
	if a.Exists(ctx, "certificates/ca/old.example.com/old.crt") {
		t.Error("Delete left the key")
	}
	if list, err := b.List(ctx, "certificates", true); err != nil || len(list) != 3 {
		t.Errorf("List = %v, %v", list, err)
	}
	if err := b.Lock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := b.Unlock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatal(err)
	}
}

// TestKVUsesABucketItMayNotChange: a node that NATS does not let update a
// bucket whose settings differ from its own (an operator's cluster, or
// another node's embedded server) uses the bucket as it is and logs what
// differs, rather than failing every storage call.
func TestKVUsesABucketItMayNotChange(t *testing.T) {
	ctx := context.Background()
	s := testServer(t, &server.User{Username: "node", Password: "pw", Permissions: &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.STREAM.UPDATE.>"}}}})
	js := testJetStream(t, s, nats.UserInfo("node", "pw"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	// The buckets as a node with a 2-minute lock TTL made them.
	if err := NewKVStorage(js, KVOptions{LockTTL: 2 * time.Minute}).Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	a := NewKVStorage(js, KVOptions{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err := a.Store(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Store on a bucket this node may not change: %v", err)
	}
	if err := a.Lock(ctx, "l"); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := a.Unlock(ctx, "l"); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if want := "max_age 2m0s (this node: 1m0s)"; !strings.Contains(logs.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, logs)
	}
}
