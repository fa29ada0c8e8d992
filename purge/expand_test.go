package purge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// expandingInvalidator is a memInvalidator whose Expand adds more to a
// request, with warning.
type expandingInvalidator struct {
	memInvalidator
	more    Request
	warning string
	// onApply, if set, runs before each apply with the number of applies
	// before it.
	onApply func(n int)
}

func (e *expandingInvalidator) Expand(Request) (Request, string) { return e.more, e.warning }

func (e *expandingInvalidator) Invalidate(ctx context.Context, r Request, seq uint64) (int, error) {
	if e.onApply != nil {
		e.onApply(len(e.calls()))
	}
	return e.memInvalidator.Invalidate(ctx, r, seq)
}

// startSmallNATS runs a NATS server with a 64 KiB max payload, as a
// cluster's may be: smaller than the embedded server's.
func startSmallNATS(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, Authorization: testNATSToken,
		MaxPayload: 64 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// purgeAnswer is the API's answer, 200 or not.
type purgeAnswer struct {
	Seq      uint64 `json:"seq"`
	Warning  string `json:"warning"`
	Error    string `json:"error"`
	Accepted bool   `json:"accepted"`
}

// postPurge sends body to b's API through a real listener.
func postPurge(t testing.TB, b *Bus, body string) (int, purgeAnswer) {
	t.Helper()
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	status, raw := post(t, srv.URL, "s3cret", body)
	var ans purgeAnswer
	if err := json.Unmarshal([]byte(raw), &ans); err != nil {
		t.Fatalf("answer %d %q: %v", status, raw, err)
	}
	return status, ans
}

// Publish publishes what the Invalidator's Expander adds with the request,
// each item once, in further events when one would be over MaxItems or the
// max payload, all before the API answers; an added item that is no valid
// purge item is left out alone and named in the answer's warning. Before,
// one such item among the added URLs made Publish drop every URL of its
// chunk (up to MaxItems of them) while the API answered 200 without a
// word: "an invalid item among many" fails on that code.
func TestPublishExpands(t *testing.T) {
	s := startSmallNATS(t)
	const own = "http://www.example.com/a?utm=1"
	tooLong := "http://www.example.com/" + strings.Repeat("x", MaxItemLen)
	many := manyURLs(MaxItems)
	for _, tt := range []struct {
		name        string
		more        Request
		warning     string   // the Expander's
		urls        []string // applied, in all
		prefixes    []string
		wantWarning []string // in the answer's warning
	}{
		{"expanded", Request{URLs: []string{"http://www.example.com/a", own, "http://www.example.com/a"}},
			"", []string{own, "http://www.example.com/a"}, nil, nil},
		{"prefixes", Request{Prefixes: []string{"http://www.example.com/p/", "http://www.example.com/p/"}},
			"", []string{own}, []string{"http://www.example.com/p/"}, nil},
		{"invalid expansion", Request{URLs: []string{"/relative"}},
			"", []string{own}, nil, []string{"1 URLs or prefixes", `"/relative"`}},
		{"the expander's warning", Request{}, "no routes here", []string{own}, nil, []string{"no routes here"}},
		{"an invalid item among many", Request{URLs: slices.Insert(slices.Clone(many), 10, tooLong)},
			"", slices.Concat([]string{own}, many), nil, []string{"1 URLs or prefixes", "http://www.example.com/xxx"}},
		{"too many items", Request{URLs: many}, "", slices.Concat([]string{own}, many), nil, nil},
		{"over the max payload", Request{URLs: manyURLs(2000)}, // ~60 KiB of URLs: over 32 KiB
			"", slices.Concat([]string{own}, manyURLs(2000)), nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv := &expandingInvalidator{more: tt.more, warning: tt.warning}
			b := startBus(t, Options{Invalidator: inv, NATSURL: s.ClientURL(), Node: "x", Token: "s3cret"})
			before := len(inv.calls())
			status, ans := postPurge(t, b, `{"urls":["`+own+`"]}`)
			if status != http.StatusOK {
				t.Fatalf("answer %d %+v", status, ans)
			}
			// The API answers once its events are applied here, in order.
			var urls, prefixes []string
			for _, c := range inv.calls()[before:] {
				urls, prefixes = append(urls, c.Req.URLs...), append(prefixes, c.Req.Prefixes...)
			}
			if !slices.Equal(urls, tt.urls) {
				t.Errorf("applied URLs %d (%.80q...), want %d (%.80q...)", len(urls), urls, len(tt.urls), tt.urls)
			}
			if !slices.Equal(prefixes, tt.prefixes) {
				t.Errorf("applied prefixes %q, want %q", prefixes, tt.prefixes)
			}
			for _, w := range tt.wantWarning {
				if !strings.Contains(ans.Warning, w) {
					t.Errorf("warning %q, want it to say %q", ans.Warning, w)
				}
			}
			if len(tt.wantWarning) == 0 && ans.Warning != "" {
				t.Errorf("warning %q, want none", ans.Warning)
			}
			// Seq names the last event: a node that applied it applied
			// the purge whole.
			if last := inv.calls()[len(inv.calls())-1].Seq; ans.Seq != last {
				t.Errorf("answer's seq %d, the last event applied %d", ans.Seq, last)
			}
		})
	}
}

// A further event that fails after the purge itself was published is no
// "nothing was purged": the API answers 503 with the purge's id and seq,
// accepted, and says that sending it again is safe. The fault: the NATS
// server stops right after the first event is applied.
func TestPublishExpandsIncomplete(t *testing.T) {
	s := startSmallNATS(t)
	inv := &expandingInvalidator{more: Request{URLs: manyURLs(MaxItems)}}
	inv.onApply = func(n int) {
		if n == 0 {
			s.Shutdown()
		}
	}
	b := startBus(t, Options{Invalidator: inv, NATSURL: s.ClientURL(), Node: "x", Token: "s3cret"})
	inv.mu.Lock()
	inv.got = nil
	inv.mu.Unlock()
	status, ans := postPurge(t, b, `{"urls":["http://www.example.com/a"]}`)
	if status != http.StatusServiceUnavailable || !ans.Accepted || ans.Seq == 0 ||
		!strings.Contains(ans.Error, "was published and applied here") || !strings.Contains(ans.Error, "sending the purge again is safe") {
		t.Errorf("answer %d %+v, want 503, accepted, with the purge's seq, saying it was published and may be sent again", status, ans)
	}
}

func manyURLs(n int) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://www.example.com/expanded/%020d", i)
	}
	return urls
}

// A purge whose own event is published but not applied here within
// ApplyTimeout (a slow local apply) still publishes what the routes map it
// to, and the API answers 504, accepted, with the last event's seq: every
// node then applies all of it. Before, the further events were never
// published while the answer said the purge would still be applied on
// every node. The fault: the local apply of the purge's first event waits
// until the answer came.
func TestPublishExpandsWhenNotYetApplied(t *testing.T) {
	s := startSmallNATS(t)
	more := manyURLs(MaxItems) // with the caller's URL, over one event's MaxItems
	answered := make(chan struct{})
	inv := &expandingInvalidator{more: Request{URLs: more}, onApply: func(n int) {
		if n == 0 {
			<-answered
		}
	}}
	b := startBus(t, Options{Invalidator: inv, NATSURL: s.ClientURL(), Node: "x", Token: "s3cret",
		ApplyTimeout: 200 * time.Millisecond})
	status, ans := postPurge(t, b, `{"urls":["http://www.example.com/a"]}`)
	close(answered)
	if status != http.StatusGatewayTimeout || !ans.Accepted {
		t.Errorf("answer %d %+v, want 504, accepted", status, ans)
	}
	var urls []string
	waitFor(t, "every URL applied", func() bool {
		urls = nil
		for _, c := range inv.calls() {
			urls = append(urls, c.Req.URLs...)
		}
		return len(urls) >= 1+len(more)
	})
	if want := slices.Concat([]string{"http://www.example.com/a"}, more); !slices.Equal(urls, want) {
		t.Errorf("applied %d URLs, want the purge's and the %d its routes map it to", len(urls), len(more))
	}
	if last := inv.calls()[len(inv.calls())-1].Seq; ans.Seq != last {
		t.Errorf("answer's seq %d, the last event applied %d", ans.Seq, last)
	}
}
