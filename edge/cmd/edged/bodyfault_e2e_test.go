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
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"edged/edge/config"
)

// TestClientBodyFaultsDoNotEjectOrigin: a request body the client breaks
// off is the client's fault. Uploads shorter than their Content-Length
// (HTTP/2 END_STREAM early) and chunked
// HTTP/1.1 bodies cut short by a half-close, more of them than the pool's
// passive ejection tolerates (5 consecutive failures), are answered 400,
// logged as the client's error, and leave the only origin server in
// service: the next GET is served by it, not 503 no-healthy-upstream.
func TestClientBodyFaultsDoNotEjectOrigin(t *testing.T) {
	origin := bodyReadingOrigin(t, nil)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
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
	c := h.dialH2(t)
	id := uint32(1)
	for i := range faults {
		// A POST announcing 8 bytes that ends its stream after 4.
		c.hbuf.Reset()
		for _, hf := range []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "https"},
			{Name: ":authority", Value: "h2.test"}, {Name: ":path", Value: fmt.Sprintf("/short%d", i)}, {Name: "content-length", Value: "8"}} {
			_ = c.enc.WriteField(hf)
		}
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		if err := c.fr.WriteData(id, true, []byte("test")); err != nil {
			t.Fatal(err)
		}
		f := c.until("answer to a short body", func(f http2.Frame) bool {
			m, ok := f.(*http2.MetaHeadersFrame)
			return ok && m.StreamID == id
		}).(*http2.MetaHeadersFrame)
		if status, cs := f.PseudoValue("status"), headerValue(f, "cache-status"); status != "400" || !strings.Contains(cs, "detail=bad-request-body") {
			t.Errorf("HTTP/2 body shorter than its content-length: status %s, cache-status %q; want 400, detail=bad-request-body", status, cs)
		}
		id += 2
	}

	// Chunked HTTP/1.1 uploads past server.max_body_bytes: the limit
	// fails the body's reads while it is sent (nothing says its length
	// first), which is the client's fault as well. (An HTTP/1 body cut
	// short ends the connection's reads: net/http takes it for the
	// client's departure and answers nothing, 499 in the log.)
	for i := range faults {
		conn, err := net.Dial("tcp", strings.TrimPrefix(h.f.public, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /chunk%d HTTP/1.1\r\nHost: h2.test\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"10\r\n0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", i)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("HTTP/1.1 chunked body past max_body_bytes: %d, want 413 (cache-status %q)", resp.StatusCode, resp.Header.Get("Cache-Status"))
		}
	}

	for i := range 2 {
		client, tr := tlsClient(h.ca, h.addr)
		resp, body := get(t, client, fmt.Sprintf("https://h2.test/after%d", i))
		tr.CloseIdleConnections()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "origin h2.test /after") {
			t.Errorf("GET after %d broken client bodies: %d %q (cache-status %q), want the origin's 200",
				2*faults, resp.StatusCode, body, resp.Header.Get("Cache-Status"))
		}
	}
	_, metrics := fetch(t, h.f.admin+"/metrics")
	if m := regexp.MustCompile(`(?m)^edged_origin_ejections_total\{[^}]*\} ([1-9]\S*)$`).FindString(metrics); m != "" {
		t.Errorf("the origin server was ejected: %s", m)
	}

	h.f.stop() // flushes the access log
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/short0": `"status":400,`, "/chunk0": `"status":413,`} {
		line := regexp.MustCompile(`(?m)^.*"` + path + `".*$`).FindString(string(log))
		if !strings.Contains(line, want) {
			t.Errorf("access log line of %s does not name the client's error (%s): %s", path, want, line)
		}
	}
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
