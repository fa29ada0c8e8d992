package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edged/edge/acme"
	"edged/edge/config"
)

// TestEmbeddedNATSGuardsTheFleetsStreams: a node whose embedded NATS
// listens for other nodes (-nats-listen) gives a client holding the NATS
// token no right to delete, purge, or change the settings of the ACME
// buckets' streams or the purge stream, nor to delete their messages or
// empty a bucket with a roll-up: with the buckets gone, every node lost
// its certificates and account and ordered them again, into the CA's rate
// limits. Before, the token gave all of that but deleting or purging the
// purge stream. What another node does with the buckets (certmagic's put,
// get, delete, list, locks) still works over the network.
func TestEmbeddedNATSGuardsTheFleetsStreams(t *testing.T) {
	natsAddr := freeAddr(t)
	t.Setenv("EDGED_PURGE_TOKEN", purgeToken)
	t.Setenv(config.NATSTokenEnv, "guard-nats-token")
	serveArgs(t, []string{"-role", "shield", "-origin", "http://127.0.0.1:1", "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0",
		"-data", t.TempDir(), "-nats-listen", natsAddr})

	// Another node's ACME storage, as openACME makes it, over the network.
	js := natsTokenClient(t, "nats://"+natsAddr)
	ctx := context.Background()
	other := acme.NewKVStorage(js, acme.KVOptions{Owner: "other"})
	const key = "certificates/ca/www.example.com/www.example.com.key"
	if err := other.Store(ctx, key, []byte("the key")); err != nil {
		t.Fatal(err)
	}

	attacker := natsTokenClient(t, "nats://"+natsAddr)
	// Every stream the server holds, as the node made them (the buckets'
	// by ensureACMEBuckets, with the options its storage uses), not as
	// this test would name them.
	var streams []string
	for name := range attacker.StreamNames(ctx).Name() {
		streams = append(streams, name)
	}
	slices.Sort(streams)
	if want := []string{"EDGED_PURGE", "KV_EDGED_ACME", "KV_EDGED_ACME_LOCKS"}; !slices.Equal(streams, want) {
		t.Fatalf("streams %q, want %q", streams, want)
	}
	for _, name := range streams {
		stream, err := attacker.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := stream.CachedInfo().Config
		short := cfg
		short.MaxAge, short.Duplicates, short.MaxMsgs = time.Second, time.Second, 1
		for what, attack := range map[string]func(context.Context) error{
			"delete":           func(ctx context.Context) error { return attacker.DeleteStream(ctx, name) },
			"purge":            func(ctx context.Context) error { return stream.Purge(ctx) },
			"delete a message": func(ctx context.Context) error { return stream.DeleteMsg(ctx, 1) },
			"shorten":          func(ctx context.Context) error { _, err := attacker.UpdateStream(ctx, short); return err },
		} {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			if err := attack(actx); err == nil {
				t.Errorf("a client holding the NATS token could %s %s", what, name)
			}
			cancel()
		}
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatalf("%s after the attacks: %v", name, err)
		}
		if got := info.Config; got.MaxAge != cfg.MaxAge || got.MaxMsgs != cfg.MaxMsgs || got.Duplicates != cfg.Duplicates {
			t.Errorf("%s: max age %v, max messages %d, duplicate window %v; want them unchanged", name, got.MaxAge, got.MaxMsgs, got.Duplicates)
		}
	}
	rollup := nats.NewMsg("$KV.EDGED_ACME.x")
	rollup.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupAll)
	actx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := attacker.PublishMsg(actx, rollup); err == nil {
		t.Error("a client holding the NATS token emptied the bucket with a roll-up")
	}

	if got, err := other.Load(ctx, key); err != nil || string(got) != "the key" {
		t.Fatalf("the other node's key after the attempts: %q, %v", got, err)
	}
	if err := other.Store(ctx, "certificates/ca/old.example.com/old.crt", []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(ctx, "certificates/ca/old.example.com"); err != nil {
		t.Fatal(err)
	}
	if list, err := other.List(ctx, "certificates/ca", false); err != nil || len(list) != 1 {
		t.Errorf("List = %v, %v; want the one host left", list, err)
	}
	if err := other.Lock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := other.Unlock(ctx, "issue_cert_www.example.com"); err != nil {
		t.Fatal(err)
	}
}

// natsTokenClient connects to url with the NATS token of the environment,
// as another node or a client holding the token does. Its permission
// errors are expected, not printed.
func natsTokenClient(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.Token("guard-nats-token"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
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
