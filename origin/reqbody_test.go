package origin

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// errClientReset stands for the error a client's request body fails with
// (an HTTP/2 stream reset, a malformed chunk, a body over the limit).
var errClientReset = errors.New("client reset its stream")

// TestRequestBodyFaultNotHeldAgainstServer: a request body that fails while
// it is sent, with an error or by ending before its ContentLength, is the
// caller's fault: Do fails with ErrRequestBody (and the body's own error),
// the server is not ejected even with a threshold of one failure, and the
// request is not tried on another server.
func TestRequestBodyFaultNotHeldAgainstServer(t *testing.T) {
	bodies := map[string]struct {
		body func() io.Reader
		want error
	}{
		"error": {func() io.Reader { return io.MultiReader(strings.NewReader("test"), &failingReader{errClientReset}) }, errClientReset},
		"short": {func() io.Reader { return strings.NewReader("test") }, io.ErrUnexpectedEOF},
	}
	eject := Ejection{Failures: 1, Backoff: time.Hour}
	for name, b := range bodies {
		t.Run(name+"/pool", func(t *testing.T) {
			a, bsrv := newRecorder(t, "a"), newRecorder(t, "b")
			p := newTestPool(t, PoolOptions{Servers: servers(a.URL, bsrv.URL), Ejection: eject, Retries: 1})
			c := newTestClient(t, Options{Pool: p})
			for range 3 {
				body := b.body()
				_, err := c.Do(context.Background(), &Outbound{Method: "POST", Host: "site.example", RequestURI: "/up", Key: "k",
					Body: body, ContentLength: 8, GetBody: func() (io.Reader, error) { return b.body(), nil }})
				wantErrIs(t, err, ErrRequestBody)
				wantErrIs(t, err, b.want)
			}
			for _, up := range p.servers {
				if up.eject.ejected(time.Now().UnixNano()) {
					t.Errorf("server %s ejected for a client's body", up.base)
				}
			}
			if n := a.count() + bsrv.count(); n > 3 {
				t.Errorf("%d requests reached the servers for 3 failed bodies: retried elsewhere", n)
			}
			if _, _, err := get(t, c, "k", "/"); err != nil {
				t.Fatalf("GET after failed bodies: %v", err)
			}
		})
		t.Run(name+"/shield", func(t *testing.T) {
			shield := newRecorder(t, "shield")
			c := newTestClient(t, Options{Shields: []string{shield.URL}, ShieldEjection: eject})
			for range 3 {
				_, err := c.Do(context.Background(), &Outbound{Method: "POST", Host: "site.example", RequestURI: "/up", Key: "k",
					Body: b.body(), ContentLength: 8})
				wantErrIs(t, err, ErrRequestBody)
			}
			if resp, _, err := get(t, c, "k", "/"); err != nil || resp.Header.Get("X-Served-By") != "shield" {
				t.Fatalf("GET after failed bodies: %v; want the shield, not ejected", err)
			}
		})
	}
}

type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }
