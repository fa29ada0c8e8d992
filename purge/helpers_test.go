package purge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// memInvalidator records what it was asked to apply and its applied
// sequence in memory; it can be told to fail.
type memInvalidator struct {
	mu      sync.Mutex
	applied uint64
	got     []applyCall
	fail    int // fail this many next calls
	perCall int // objects reported per call
}

type applyCall struct {
	Seq uint64
	Req Request
}

var _ Invalidator = (*memInvalidator)(nil)

func (m *memInvalidator) Invalidate(_ context.Context, r Request, seq uint64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return 0, errors.New("injected failure")
	}
	m.applied = seq
	m.got = append(m.got, applyCall{seq, r})
	return m.perCall, nil
}

func (m *memInvalidator) Applied() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied, nil
}

// streamInvalidator is a memInvalidator that records the stream its
// applied sequence counts in, as the node's store does (StreamRecorder).
type streamInvalidator struct {
	memInvalidator
	stream string // under memInvalidator.mu
}

var _ StreamRecorder = (*streamInvalidator)(nil)

func (m *streamInvalidator) InvalidateInStream(ctx context.Context, r Request, seq uint64, stream string) (int, error) {
	n, err := m.Invalidate(ctx, r, seq)
	if err == nil && stream != "" {
		m.mu.Lock()
		m.stream = stream
		m.mu.Unlock()
	}
	return n, err
}

func (m *streamInvalidator) AppliedStream() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stream, nil
}

func (m *memInvalidator) calls() []applyCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]applyCall(nil), m.got...)
}

func (m *memInvalidator) seqs() []uint64 {
	var s []uint64
	for _, c := range m.calls() {
		s = append(s, c.Seq)
	}
	return s
}

// Keys of the test fleet: every bus the helpers make signs and verifies
// events with testSigningKey and sends testNATSToken to NATS.
const (
	testSigningKey = "test fleet signing key"
	testNATSToken  = "test nats token"
)

// withTestKeys gives opts the test fleet's keys where it names none.
func withTestKeys(opts Options) Options {
	if opts.SigningKey == "" {
		opts.SigningKey = testSigningKey
	}
	if opts.NATSToken == "" && !opts.AllowUnauthenticatedNATS {
		opts.NATSToken = testNATSToken
	}
	return opts
}

// startBus creates and starts a bus with the test fleet's keys, closing it
// at cleanup.
func startBus(t testing.TB, opts Options) *Bus {
	t.Helper()
	return startRawBus(t, withTestKeys(opts))
}

// startRawBus is startBus with opts' keys as they are (none if unset).
func startRawBus(t testing.TB, opts Options) *Bus {
	t.Helper()
	return started(t, newRawBus(t, opts))
}

// startClockedBus is startBus with the bus's health on clock: how long the
// node has trailed or missed the stream is then what the test says, not
// what a loaded machine makes of a short MaxLag.
func startClockedBus(t testing.TB, opts Options, clock *fakeClock) *Bus {
	t.Helper()
	b := newBus(t, opts)
	b.health = newHealth(b.opts.MaxLag, clock.now, &b.applied)
	return started(t, b)
}

// fakeClock is a clock that moves only when advanced.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// started starts b, closed at cleanup by whoever made it.
func started(t testing.TB, b *Bus) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return b
}

func newBus(t testing.TB, opts Options) *Bus {
	t.Helper()
	return newRawBus(t, withTestKeys(opts))
}

func newRawBus(t testing.TB, opts Options) *Bus {
	t.Helper()
	if opts.Invalidator == nil {
		opts.Invalidator = &memInvalidator{}
	}
	if opts.NATSURL == "" && opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	if opts.ApplyTimeout == 0 {
		opts.ApplyTimeout = 20 * time.Second // generous: -race on 2 shared cores
	}
	b, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// signedMsg is a message on the default subject signed with key, as a
// node of a fleet with that key publishes it: with the event's ID as its
// JetStream message ID (publishAcked), when data has one.
func signedMsg(data []byte, key string) *nats.Msg {
	msg := &nats.Msg{Subject: "edged.purge", Data: data, Header: nats.Header{}}
	var st struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &st) == nil && st.ID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, st.ID)
	}
	newSigner(key).sign(msg)
	return msg
}

// startServer runs a standalone JetStream server on 127.0.0.1:port (-1 for
// any free port) that requires testNATSToken, shut down at cleanup.
func startServer(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		SyncAlways: true, NoSigs: true, NoLog: true,
		Authorization: testNATSToken, // as an operator's cluster requires one
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// freePort returns a port on 127.0.0.1 that nothing listens on now, taken
// below the kernel's ephemeral ports (32768 and up on Linux): the tests
// start or restart a server on it later, and on a busy machine a port of
// the ephemeral range can meanwhile become some connection's local port.
func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port in 20000-31999")
	return 0
}

// waitFor polls cond until it holds, failing the test after 20s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// publishN publishes n URL purges through b and returns their sequences.
func publishN(t testing.TB, b *Bus, n int, tag string) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := range n {
		res, err := b.Publish(context.Background(), Request{URLs: []string{fmt.Sprintf("http://www.example.com/%s/%d", tag, i)}})
		if err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		seqs = append(seqs, res.Seq)
	}
	return seqs
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// rawSender connects a plain NATS client to url with the test token (closed
// at cleanup) and returns a function that publishes a message through it.
func rawSender(t testing.TB, url string) func(*nats.Msg) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Token(testNATSToken))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return func(msg *nats.Msg) {
		t.Helper()
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
}

// slowLink relays TCP connections from 127.0.0.1 to addr and hands each
// client what the server sends delay late, in order, as a link with that
// latency does (a node far from its NATS cluster); what the client sends
// goes through at once. It returns the relay's nats:// URL; the relay and
// its connections are closed at cleanup.
func slowLink(t testing.TB, addr string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", addr)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			wg.Go(func() {
				_, _ = io.Copy(server, client)
				server.Close()
			})
			wg.Go(func() { delayedCopy(client, server, delay) })
		}
	})
	return "nats://" + ln.Addr().String()
}

// delayedCopy writes to dst what src sends, each read delay after it came,
// until either side fails; it then closes both.
func delayedCopy(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	chunks := make(chan chunk, 1024)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{time.Now().Add(delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		dst.Close()
		src.Close()
		for range chunks { // the reader ends on the closed src
		}
	}()
	for c := range chunks {
		// The injected latency itself: the one sleep here waits for no
		// event, it is the fault.
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			return
		}
	}
}
