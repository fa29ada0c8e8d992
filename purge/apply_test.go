package purge

import (
	"context"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeMsg is a delivered message with chosen metadata, signed with
// testSigningKey unless hdr is set, stored now unless stored is set;
// methods the bus does not call are left to the nil embedded interface.
type fakeMsg struct {
	jetstream.Msg
	seq    uint64
	data   []byte
	hdr    nats.Header
	stored time.Time
}

func (m fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	stored := m.stored
	if stored.IsZero() {
		stored = time.Now()
	}
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, Timestamp: stored}, nil
}

func (m fakeMsg) Data() []byte { return m.data }

func (m fakeMsg) Headers() nats.Header {
	if m.hdr != nil {
		return m.hdr
	}
	return signedMsg(m.data, testSigningKey).Header
}

// Duplicate delivery (a redelivered sequence at or below the applied one)
// is skipped; a jump in sequence is a gap.
func TestHandleDuplicatesAndGaps(t *testing.T) {
	inv := &memInvalidator{}
	b := newBus(t, Options{Invalidator: inv})
	data, err := encodeEvent(event{ID: "e", Time: time.Now(), Request: Request{Tags: []string{"t"}}})
	if err != nil {
		t.Fatal(err)
	}
	tag := Request{Tags: []string{"t"}}
	for _, seq := range []uint64{1, 2, 2, 1, 3, 6, 6} {
		if err := b.handle(context.Background(), fakeMsg{seq: seq, data: data}); err != nil {
			t.Fatal(err)
		}
	}
	want := []applyCall{{1, tag}, {2, tag}, {3, tag}, {5, staleAll}, {6, tag}}
	if got := inv.calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %+v\nwant %+v", got, want)
	}
}

// taggedCache is a toy cache with a tag index, enough to show the count and
// duration of a large tag purge reach the API answer.
type taggedCache struct {
	mu      sync.Mutex
	tags    map[string]map[string]bool
	applied uint64
}

func (c *taggedCache) Invalidate(_ context.Context, r Request, seq uint64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tag := range r.Tags {
		n += len(c.tags[tag])
		delete(c.tags, tag)
	}
	c.applied = seq
	return n, nil
}

func (c *taggedCache) Applied() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied, nil
}

func TestTagPurgeOf100000ObjectsReportsCountAndDuration(t *testing.T) {
	c := &taggedCache{tags: map[string]map[string]bool{"big": {}}}
	for i := range 100000 {
		c.tags["big"][fmt.Sprintf("http://www.example.com/o/%d", i)] = true
	}
	b := startBus(t, Options{Invalidator: c, Token: "t"})
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	start := time.Now()
	code, body := post(t, srv.URL, "t", `{"tags":["big"]}`)
	if code != 200 || !strings.Contains(body, `"count":100000`) || !strings.Contains(body, `"duration_ms"`) {
		t.Fatalf("got %d %s, want 200 with count 100000 and duration_ms", code, body)
	}
	t.Logf("tag purge of 100,000 objects: %s (wall %v)", strings.TrimSpace(body), time.Since(start))
}

// An event published by a node older than the rule that all stands alone
// may carry all with other selectors: it is applied as all, never skipped.
func TestHandleOldAllWithSelectors(t *testing.T) {
	inv := &memInvalidator{}
	b := newBus(t, Options{Invalidator: inv})
	data, err := encodeEvent(event{ID: "e", Time: time.Now(), Request: Request{All: true, Soft: true, URLs: []string{"http://a.example/x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.handle(context.Background(), fakeMsg{seq: 1, data: data}); err != nil {
		t.Fatal(err)
	}
	want := []applyCall{{1, Request{All: true, Soft: true}}}
	if got := inv.calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %+v, want %+v", got, want)
	}
}
