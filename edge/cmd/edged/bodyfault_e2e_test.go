package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"edged/edge/config"
)

// TestClientBodyFaultsDoNotEjectOrigin: a request body that fails is the
// client's fault. HTTP/2 uploads shorter than their content-length
// (END_STREAM early), or chunked HTTP/1.1 uploads past max_body_bytes,
// more of them than the pool's passive ejection tolerates (5 consecutive
// failures), are answered 400 (413), logged so, and leave the only origin
// server in service: the next GET is served by it, not 503
// no-healthy-upstream.
func TestClientBodyFaultsDoNotEjectOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		status     int
		detail     string // the Cache-Status detail and edged_pass_failures_total's reason
		send       func(t *testing.T, h *h2Node, i int) (status int, cacheStatus string)
	}{
		{"h2-short-body", "/short", http.StatusBadRequest, "bad-request-body", sendShortH2},
		{"h1-chunked-over-limit", "/chunk", http.StatusRequestEntityTooLarge, "request-too-large", sendChunkedOverLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			origin := bodyReadingOrigin(t, nil)
			logFile := filepath.Join(t.TempDir(), "access.log")
			h := startH2NodeWith(t, fmt.Sprintf("pools:\n  web:\n    servers: [{url: %s}]\nsites:\n"+
				"  - name: s\n    hosts: [h2.test]\n    routes: [{path: /, pool: web}]\n"+
				"log:\n  access: {file: %s}\n", origin.URL, logFile), "  max_body_bytes: 24\n", func(tb testing.TB, cfg *config.Config) *fleetNode {
				cfg.Log.Level = "error"
				if err := cfg.Validate(); err != nil {
					tb.Fatal(err)
				}
				return serveNode(tb, cfg, io.Discard)
			})
			const faults = 6 // one more than the default ejection threshold
			for i := range faults {
				status, cs := tc.send(t, h, i)
				if status != tc.status {
					t.Errorf("broken client body %d: status %d, cache-status %q; want %d", i, status, cs, tc.status)
				}
				if !strings.Contains(cs, "detail="+tc.detail) {
					t.Errorf("broken client body %d: cache-status %q, want detail=%s", i, cs, tc.detail)
				}
			}
			for i := range 2 {
				client, tr := tlsClient(h.ca, h.addr)
				resp, body := get(t, client, fmt.Sprintf("https://h2.test/after%d", i))
				tr.CloseIdleConnections()
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "origin h2.test /after") {
					t.Errorf("GET after %d broken client bodies: %d %q (cache-status %q), want the origin's 200",
						faults, resp.StatusCode, body, resp.Header.Get("Cache-Status"))
				}
			}
			_, metrics := fetch(t, h.f.admin+"/metrics")
			if m := regexp.MustCompile(`(?m)^edged_origin_ejections_total\{[^}]*\} ([1-9]\S*)$`).FindString(metrics); m != "" {
				t.Errorf("the origin server was ejected: %s", m)
			}
			if want := fmt.Sprintf("edged_pass_failures_total{reason=%q} %d\n", tc.detail, faults); !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %q:\n%s", want, grepLines(metrics, "edged_pass_failures_total"))
			}
			h.f.stop() // flushes the access log
			log, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			line := regexp.MustCompile(`(?m)^.*"` + tc.path + `0".*$`).FindString(string(log))
			if want := fmt.Sprintf(`"status":%d,`, tc.status); !strings.Contains(line, want) {
				t.Errorf("access log line of %s0 does not name the client's error (%s): %s", tc.path, want, line)
			}
			// Not "error", which a log reader takes for the upstream's.
			if want := `"cache":"bad-request-body"`; !strings.Contains(line, want) {
				t.Errorf("access log line of %s0 lacks %s: %s", tc.path, want, line)
			}
		})
	}
}

// sendShortH2 sends, on a connection of its own, a POST announcing 8
// bytes that ends its stream after 4.
func sendShortH2(t *testing.T, h *h2Node, i int) (int, string) {
	c := h.dialH2(t)
	for _, hf := range []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "h2.test"}, {Name: ":path", Value: fmt.Sprintf("/short%d", i)}, {Name: "content-length", Value: "8"}} {
		_ = c.enc.WriteField(hf)
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.hbuf.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteData(1, true, []byte("test")); err != nil {
		t.Fatal(err)
	}
	f := c.until("answer to a short body", func(f http2.Frame) bool {
		m, ok := f.(*http2.MetaHeadersFrame)
		return ok && m.StreamID == 1
	}).(*http2.MetaHeadersFrame)
	status, err := strconv.Atoi(f.PseudoValue("status"))
	if err != nil {
		t.Fatal(err)
	}
	c.conn.Close()
	return status, headerValue(f, "cache-status")
}

// sendChunkedOverLimit sends a chunked HTTP/1.1 POST past
// server.max_body_bytes (24): the limit fails the body's reads while it is
// sent, since nothing says its length first, which is the client's fault
// as well. (An HTTP/1 body cut short ends the connection's reads: net/http
// takes it for the client's departure, cancels the request and answers
// nothing; 499 in the access log, and no failure held against the server.)
func sendChunkedOverLimit(t *testing.T, h *h2Node, i int) (int, string) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.f.public, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /chunk%d HTTP/1.1\r\nHost: h2.test\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", i)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Cache-Status")
}

// headerValue returns the value of a regular header field of f.
func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.RegularFields() {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}
