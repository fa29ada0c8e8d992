package purge

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// expandingInvalidator is a memInvalidator whose Expand adds the URLs of
// add to a request's own.
type expandingInvalidator struct {
	memInvalidator
	add func(Request) []string
}

func (e *expandingInvalidator) Expand(r Request) Request {
	r.URLs = slices.Concat(r.URLs, e.add(r))
	return r
}

// Publish publishes what the Invalidator's Expander adds, and the request
// as given when the expansion would not be a valid request or not fit in a
// NATS message: an expansion never costs a purge. What Expand added is then
// published in further events, each within MaxItems and the max payload:
// before, it was dropped (the shields kept what the routes send them)
// while the purge answered 200; the last two cases fail on that code.
func TestPublishExpands(t *testing.T) {
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, Authorization: testNATSToken,
		MaxPayload: 64 << 10, // as a cluster's, smaller than the embedded server's
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })

	const own = "http://www.example.com/a?utm=1"
	for _, tt := range []struct {
		name string
		add  []string
		want []string
	}{
		{"expanded", []string{"http://www.example.com/a"}, []string{own, "http://www.example.com/a"}},
		{"invalid expansion", []string{"/relative"}, []string{own}},
		{"too many items", manyURLs(MaxItems), slices.Concat([]string{own}, manyURLs(MaxItems))},
		{"over the max payload", manyURLs(1000), slices.Concat([]string{own}, manyURLs(1000))}, // ~30 KiB of URLs, twice: over 64 KiB
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv := &expandingInvalidator{add: func(r Request) []string {
				if tt.name == "over the max payload" {
					return slices.Concat(tt.add, tt.add)
				}
				return tt.add
			}}
			b := startBus(t, Options{Invalidator: inv, NATSURL: s.ClientURL(), Node: "x"})
			before := len(inv.calls())
			res, err := b.Publish(context.Background(), Request{URLs: []string{own}})
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			// Publish returns once its events are applied here, in order.
			var got []string
			for _, c := range inv.calls()[before:] {
				got = append(got, c.Req.URLs...)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(slices.Compact(got), want) {
				t.Errorf("applied URLs %d (%.60q...), want %d (%.60q...)", len(got), got, len(want), want)
			}
			// Seq names the last event: a node that applied it applied
			// the purge whole.
			if last := inv.calls()[len(inv.calls())-1].Seq; res.Seq != last {
				t.Errorf("Result seq %d, the last event applied %d", res.Seq, last)
			}
		})
	}
}

func manyURLs(n int) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://www.example.com/expanded/%020d", i)
	}
	return urls
}
