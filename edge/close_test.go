package edge

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// count is the number of tasks of kind that have not ended.
func (ts *tasks) count(kind string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	n := 0
	for t := range ts.running {
		if t.kind == kind {
			n++
		}
	}
	return n
}

// waiting reports whether a Close is waiting for the tasks to end.
func (ts *tasks) waiting() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.changed != nil
}

// leaveDuringFetch sends GET path to e and gives up on it once the origin
// has received the fill's request (arrived); it returns once the edge has
// seen the client go (a request answered by nothing counts as an error).
// The fetch goes on without it.
func leaveDuringFetch(t *testing.T, e *testEdge, path string, arrived <-chan struct{}) {
	t.Helper()
	before := outcomeCount(e.handler, outcomeError)
	addr := strings.TrimPrefix(e.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr); err != nil {
		t.Fatal(err)
	}
	<-arrived
	// Gone with a reset: an end of stream alone is a half-close, which
	// the edge answers (internal/halfclose).
	_ = conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
	waitFor(t, func() bool { return outcomeCount(e.handler, outcomeError) > before })
}

// TestCloseWaitsForFetch: a miss whose client left is still fetched (no
// client's disconnect cancels a shared fetch); Close returns only once
// that fetch has ended and stored its response. Close used to wait for
// background refreshes alone, so the fetch outlived the Handler (and the
// store closed under it).
func TestCloseWaitsForFetch(t *testing.T) {
	c := newClock()
	g := newGate()
	arrived := make(chan struct{}, 1)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		g.wait()
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("slow"))
	})
	t.Cleanup(g.open)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	leaveDuringFetch(t, e, "/slow", arrived)

	closed := make(chan error, 1)
	go func() { closed <- e.handler.Close(context.Background()) }()
	waitFor(t, e.handler.tasks.waiting)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while the fetch was held at the origin", err)
	default:
	}
	if n := e.handler.tasks.count(taskFetch); n != 1 {
		t.Errorf("upstream fetches tracked = %d, want 1", n)
	}
	g.open()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.store.Flush()
	if _, _, err := e.store.Get(e.URL + "/slow"); err != nil {
		t.Errorf("the fetch had not stored its response when Close returned: %v", err)
	}
}

// TestCloseDeadline: when Close's deadline passes with a fetch still held
// at the origin, Close reports the fetch by its key and cancels it, so that
// it does not run on for the fetch timeout.
func TestCloseDeadline(t *testing.T) {
	c := newClock()
	arrived := make(chan struct{}, 1)
	cancelled := make(chan struct{})
	var once sync.Once
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // never answers: only the edge can end it
		once.Do(func() { close(cancelled) })
	})
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	leaveDuringFetch(t, e, "/stuck", arrived)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := e.handler.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), taskFetch+` of "`+e.URL+`/stuck"`) {
		t.Fatalf("Close = %v, want the fetch of /stuck named and the deadline", err)
	}
	closedAt := time.Now()
	select {
	case <-cancelled:
	case <-time.After(4 * time.Second): // the origin client's header timeout is 5s
		t.Fatal("the fetch went on after Close's deadline")
	}
	t.Logf("fetch cancelled %v after Close returned", time.Since(closedAt))
	e.waitTasks(t)
}

// TestCloseEndsUnclaimedStream: a response too large to store is held for
// the client whose request started the fetch; a stream its client took
// holds nothing (the hold's timer is stopped), and when that client has
// left, Close closes the stream at once instead of waiting for the hold to
// expire, whether the hold began before Close or while Close waited for
// the fetch.
func TestCloseEndsUnclaimedStream(t *testing.T) {
	for _, during := range []bool{false, true} {
		name := "held before Close"
		if during {
			name = "held while Close waits"
		}
		t.Run(name, func(t *testing.T) { testCloseEndsUnclaimedStream(t, during) })
	}
}

func testCloseEndsUnclaimedStream(t *testing.T, during bool) {
	c := newClock()
	big := strings.Repeat("x", 64<<10)
	g := newGate()
	arrived := make(chan struct{}, 1)
	bodyDone := make(chan error, 1)
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/left" {
			arrived <- struct{}{}
			g.wait()
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.WriteHeader(http.StatusOK)
		_, err := w.Write([]byte(big))
		for err == nil && r.URL.Path == "/left" {
			_, err = w.Write([]byte(big)) // until the edge closes the response
		}
		if r.URL.Path == "/left" {
			bodyDone <- err
		}
	})
	t.Cleanup(g.open)
	e := newEdge(t, c, edgeConfig{upstream: o.URL, maxObject: 1 << 10})

	// Taken by its client: the hold ends with the claim.
	resp, body := e.get(t, "/taken")
	if resp.StatusCode != http.StatusOK || len(body) != len(big) {
		t.Fatalf("GET /taken: %d, %d bytes, want 200 and %d", resp.StatusCode, len(body), len(big))
	}
	if n := e.handler.tasks.count(taskHeld); n != 0 {
		t.Errorf("%d responses still held after their client took them", n)
	}

	// Its client left: held until Close.
	leaveDuringFetch(t, e, "/left", arrived)
	ctx, cancel := context.WithTimeout(context.Background(), leaderWait/2)
	defer cancel()
	closed := make(chan error, 1)
	if during {
		go func() { closed <- e.handler.Close(ctx) }()
		waitFor(t, e.handler.tasks.waiting)
		g.open() // the stream is held once Close waits for its fetch
	} else {
		g.open()
		waitFor(t, func() bool { return e.handler.tasks.count(taskHeld) == 1 })
		closed <- e.handler.Close(ctx)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-bodyDone:
	case <-time.After(leaderWait / 2):
		t.Fatal("the held response was not closed by Close")
	}
}

// TestGoroutinesTracked: the only go statement of package edge is the one
// in tasks.start, and the only timer callbacks the hold for a leader and
// a fetch's deadline (fetchContext: it only cancels the fetch's context,
// as context.WithTimeout's own timer would; the fetch it ends is a task)
// and a streamed slice's stop (streamSlice: it only closes the upstream
// body when the request's context ends, as net/http's own would),
// so that every goroutine the Handler starts is one Close waits for. A
// new one must go through tasks.
func TestGoroutinesTracked(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			where := fn.Name.Name
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GoStmt:
					if where != "start" {
						t.Errorf("%s: a go statement in %s: start it with tasks.start so Close waits for it", fset.Position(n.Pos()), where)
					}
				case *ast.SelectorExpr:
					if n.Sel.Name == "AfterFunc" && where != "holdForLeader" && where != "fetchContext" && where != "streamSlice" {
						t.Errorf("%s: time.AfterFunc in %s: track its callback as a task (see holdForLeader)", fset.Position(n.Pos()), where)
					}
				}
				return true
			})
		}
	}
}
