package edge

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowStreamReachesClient is an origin that answers at once and then
// sends its body a little at a time (server-sent events, a long poll, an
// origin that trickles): what it sent reaches the client as it arrives.
// Before, the head and the first event waited in net/http's 4 KiB buffer,
// so the client saw nothing until 4 KiB had come or the origin ended, and a
// GET's fill read the whole body first even when it could not be stored:
// an event stream through edged never delivered an event. (A response the
// cache may store is still sent once it has all arrived, up to
// cache.max_object.)
func TestSlowStreamReachesClient(t *testing.T) {
	c := newClock()
	release := make(chan struct{})
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", r.URL.Query().Get("cc"))
		_, _ = w.Write([]byte("data: first\n\n"))
		w.(http.Flusher).Flush()
		select { // the rest comes late
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	e := newEdge(t, c, edgeConfig{upstream: o.URL})
	for _, tt := range []struct{ name, method, cc string }{
		{"pass (POST)", http.MethodPost, "no-store"},
		{"not stored (GET no-store)", http.MethodGet, "no-store"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, e.URL+"/events/"+strings.Fields(tt.name)[0]+"?cc="+tt.cc, strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Timeout: 5 * time.Second}
			got := make(chan string, 1)
			go func() {
				resp, err := client.Do(req)
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				defer resp.Body.Close()
				line, err := bufio.NewReader(resp.Body).ReadString('\n')
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				got <- line
			}()
			if line := <-got; line != "data: first\n" {
				t.Errorf("first event: %q, want it while the origin holds the rest", line)
			}
		})
	}
}
