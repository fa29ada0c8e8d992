package purge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"edged/internal/logtest"
)

// Issue 7, "Security of the control plane": a client of the bus cannot
// purge without the right to. These tests fail if the signature check, the
// signing or the NATS token is removed.

// rawClient connects to url as a plain nats.go client would, with the given
// options, and returns its JetStream context.
func rawClient(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, append(opts, nats.MaxReconnects(0), nats.Timeout(5*time.Second))...)
	if err != nil {
		t.Fatalf("raw client connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func eventData(t testing.TB, r Request) []byte {
	t.Helper()
	data, err := encodeEvent(event{ID: newID(), Node: "mallory", Time: time.Now().UTC(), Request: r})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A client that holds the NATS token but not the fleet's signing key
// publishes straight on the subject: no bus applies its events, each is
// counted, and ordering goes on (no gap); a correctly signed event is
// applied by every bus.
func TestForgedEventsAreRejectedByEveryBus(t *testing.T) {
	logs := &logtest.Buffer{}
	invs := []*memInvalidator{{}, {}, {}}
	a := startBus(t, Options{Invalidator: invs[0], NATSListen: "127.0.0.1:-1", Node: "a", Logger: debugLogger(logs)})
	buses := []*Bus{a,
		startBus(t, Options{Invalidator: invs[1], NATSURL: a.ClientURL(), Node: "b", Logger: debugLogger(logs)}),
		startBus(t, Options{Invalidator: invs[2], NATSURL: a.ClientURL(), Node: "c", Logger: debugLogger(logs)}),
	}
	_, js := rawClient(t, a.ClientURL(), nats.Token(testNATSToken))

	tampered := signedMsg(eventData(t, Request{Tags: []string{"harmless"}}), testSigningKey)
	tampered.Data = eventData(t, Request{All: true}) // a real signature over another body
	malformed := &nats.Msg{Subject: "edged.purge", Data: eventData(t, Request{All: true}), Header: nats.Header{}}
	malformed.Header.Set(SignatureHeader, "v1=not-hex")
	good := Request{Tags: []string{"signed"}}
	msgs := []*nats.Msg{
		{Subject: "edged.purge", Data: eventData(t, Request{All: true})},                       // unsigned
		signedMsg(eventData(t, Request{Hosts: []string{"www.example.com"}}), "some other key"), // wrong key
		tampered,
		malformed,
		signedMsg(eventData(t, good), testSigningKey), // made with the fleet's key
	}
	for i, m := range msgs {
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatalf("raw publish %d: %v", i, err)
		}
	}
	// A purge through a bus afterwards follows in order, with no gap.
	res, err := buses[1].Publish(context.Background(), Request{Tags: []string{"after"}})
	if err != nil || res.Seq != 6 {
		t.Fatalf("Publish after forged events = %+v, %v; want seq 6", res, err)
	}
	want := []applyCall{{1, Request{}}, {2, Request{}}, {3, Request{}}, {4, Request{}}, {5, good}, {6, Request{Tags: []string{"after"}}}}
	for n, inv := range invs {
		waitFor(t, fmt.Sprintf("node %d reaches seq 6", n), func() bool { got, _ := inv.Applied(); return got == 6 })
		if got := inv.calls(); !reflect.DeepEqual(got, want) {
			t.Errorf("node %d calls = %+v\nwant %+v (rejected events only record their sequence)", n, got, want)
		}
		for reason, want := range map[string]float64{rejectUnsigned: 1, rejectBadSignature: 3} {
			if got := testutil.ToFloat64(buses[n].metrics.rejected.WithLabelValues(reason)); got != want {
				t.Errorf("node %d rejected{%s} = %v, want %v", n, reason, got, want)
			}
		}
		if got := testutil.ToFloat64(buses[n].metrics.gaps); got != 0 {
			t.Errorf("node %d gaps = %v, want 0", n, got)
		}
	}
	out := logs.String()
	if !strings.Contains(out, "message from a peer rejected") {
		t.Error("rejections were not logged")
	}
	for _, secret := range []string{testSigningKey, testNATSToken} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain the secret %q", secret)
		}
	}
}

// The embedded server, listening, refuses clients without its token.
func TestEmbeddedServerRequiresNATSToken(t *testing.T) {
	b := startBus(t, Options{NATSListen: "127.0.0.1:-1"})
	for _, tt := range []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"no token", nil, false},
		{"wrong token", []nats.Option{nats.Token("guess")}, false},
		{"right token", []nats.Option{nats.Token(testNATSToken)}, true},
	} {
		nc, err := nats.Connect(b.ClientURL(), append(tt.opts, nats.MaxReconnects(0), nats.Timeout(5*time.Second))...)
		if got := err == nil; got != tt.ok {
			t.Errorf("%s: connect err = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err == nil {
			nc.Close()
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: err = %v, want an authorization violation", tt.name, err)
		}
	}
}

// A node with the wrong NATS token cannot join the bus.
func TestBusWithWrongNATSTokenCannotConnect(t *testing.T) {
	a := startBus(t, Options{NATSListen: "127.0.0.1:-1"})
	b := newBus(t, Options{NATSURL: a.ClientURL(), NATSToken: "wrong"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Start(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start with a wrong token = %v, want ErrUnavailable", err)
	}
}

// With AllowUnauthenticatedNATS the listener takes anyone; without any key
// events are unsigned and accepted; both are logged as warnings at Start.
func TestUnauthenticatedBusWarnsAndAcceptsUnsigned(t *testing.T) {
	logs := &logtest.Buffer{}
	inv := &memInvalidator{}
	b := startRawBus(t, Options{Invalidator: inv, NATSListen: "127.0.0.1:-1", AllowUnauthenticatedNATS: true, Logger: debugLogger(logs)})
	_, js := rawClient(t, b.ClientURL())
	r := Request{Tags: []string{"unsigned"}}
	if _, err := js.Publish(context.Background(), "edged.purge", eventData(t, r)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "applied", func() bool { return len(inv.calls()) == 1 })
	if got := inv.calls()[0]; !reflect.DeepEqual(got, applyCall{1, r}) {
		t.Errorf("applied %+v, want the unsigned event", got)
	}
	for _, want := range []string{"events are not signed", "listens without authentication"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no warning %q at Start; logs:\n%s", want, logs.String())
		}
	}
}

// A bus with a key warns about nothing.
func TestAuthenticatedBusDoesNotWarn(t *testing.T) {
	logs := &logtest.Buffer{}
	startBus(t, Options{NATSListen: "127.0.0.1:-1", Logger: debugLogger(logs)})
	if out := logs.String(); strings.Contains(out, "level=WARN") {
		t.Errorf("warnings with both keys set:\n%s", out)
	}
}

// The signature check in handle, case by case; the key defaults to Token.
func TestHandleVerifiesSignatures(t *testing.T) {
	data := eventData(t, Request{Tags: []string{"t"}})
	other := eventData(t, Request{All: true})
	hdr := func(key string, body []byte) nats.Header { return signedMsg(body, key).Header }
	tests := []struct {
		name       string
		opts       Options
		hdr        nats.Header
		applied    bool
		wantReason string
	}{
		{"right key", Options{SigningKey: "k"}, hdr("k", data), true, ""},
		{"token is the default key", Options{Token: "tok"}, hdr("tok", data), true, ""},
		{"key beats token", Options{Token: "tok", SigningKey: "k"}, hdr("tok", data), false, rejectBadSignature},
		{"unsigned", Options{SigningKey: "k"}, nats.Header{}, false, rejectUnsigned},
		{"wrong key", Options{SigningKey: "k"}, hdr("x", data), false, rejectBadSignature},
		{"other body's signature", Options{SigningKey: "k"}, hdr("k", other), false, rejectBadSignature},
		{"no version", Options{SigningKey: "k"}, nats.Header{SignatureHeader: {strings.TrimPrefix(hdr("k", data).Get(SignatureHeader), signatureVersion)}}, false, rejectBadSignature},
		{"truncated", Options{SigningKey: "k"}, nats.Header{SignatureHeader: {hdr("k", data).Get(SignatureHeader)[:20]}}, false, rejectBadSignature},
		{"no key accepts unsigned", Options{}, nats.Header{}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &memInvalidator{}
			tt.opts.Invalidator = inv
			b := newRawBus(t, tt.opts)
			if err := b.handle(context.Background(), fakeMsg{seq: 1, data: data, hdr: tt.hdr}); err != nil {
				t.Fatal(err)
			}
			want := applyCall{1, Request{}}
			if tt.applied {
				want.Req = Request{Tags: []string{"t"}}
			}
			if got := inv.calls(); !reflect.DeepEqual(got, []applyCall{want}) {
				t.Errorf("calls = %+v, want [%+v]", got, want)
			}
			for _, reason := range []string{rejectUnsigned, rejectBadSignature} {
				want := 0.0
				if reason == tt.wantReason {
					want = 1
				}
				if got := testutil.ToFloat64(b.metrics.rejected.WithLabelValues(reason)); got != want {
					t.Errorf("rejected{%s} = %v, want %v", reason, got, want)
				}
			}
		})
	}
}

// FuzzVerify: a signature header is untrusted input; verify never panics
// and accepts only the real MAC of the body.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"x","request":{"all":true}}`)
	f.Add(signedMsg(body, "k").Header.Get(SignatureHeader), body)
	f.Add("v1=", body)
	f.Add("v1=zz", []byte{})
	f.Add("", body)
	s := newSigner("k")
	f.Fuzz(func(t *testing.T, sig string, data []byte) {
		h := nats.Header{}
		if sig != "" {
			h.Set(SignatureHeader, sig)
		}
		reason := s.verify(h, data)
		real := signedMsg(data, "k").Header.Get(SignatureHeader)
		// Hex is case-insensitive; the version prefix is not.
		want := strings.HasPrefix(sig, signatureVersion) && strings.EqualFold(sig, real)
		if (reason == "") != want {
			t.Fatalf("verify(%q) = %q; the real signature is %q", sig, reason, real)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	data := []byte(`{"id":"0123456789abcdef0123456789abcdef","node":"a","time":"2025-01-01T00:00:00Z","request":{"urls":["http://www.example.com/a"]}}`)
	s := newSigner(testSigningKey)
	h := signedMsg(data, testSigningKey).Header
	b.ReportAllocs()
	for b.Loop() {
		if s.verify(h, data) != "" {
			b.Fatal("rejected")
		}
	}
}

// debugLogger logs every level as text into b.
func debugLogger(b *logtest.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
