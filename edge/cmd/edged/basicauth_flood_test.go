package main

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// A flood of wrong Basic passwords whose clients left (a connection reset
// right after the request) costs no bcrypt comparison once they are gone:
// a check waiting for its turn ends with its request. Before, each queued
// comparison ran after its client had left, all of them ahead of the next
// login: a client could queue CPU time by the thousand at the cost of a
// request each, and a user's right password waited behind it.
func TestBasicAuthFloodLeftByClients(t *testing.T) {
	origin, _ := basicOrigin(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "htpasswd")
	writeBytes(t, users, []byte(htpasswdLine(t, "alice", "a-pass", 8)))
	f, logs := serveStaffNode(t, dir, origin.URL, `
      - path: /
        auth: {basic: {htpasswd: %[1]s}}
`, users)
	addr := strings.TrimPrefix(f.public, "http://")
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:wrong"))

	const flood = 24
	conns := make([]*net.TCPConn, 0, flood)
	for i := range flood {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		tc := c.(*net.TCPConn)
		conns = append(conns, tc)
		if _, err := fmt.Fprintf(tc, "GET /f%d HTTP/1.1\r\nHost: staff.test\r\nAuthorization: %s\r\n\r\n", i, wrong); err != nil {
			t.Fatal(err)
		}
	}
	// The first comparison has ended: every request of the flood has long
	// been read and waits for its turn. Then every client leaves, with a
	// reset.
	logs.WaitLines(t, "basic authentication refused", 1)
	for _, c := range conns {
		_ = c.SetLinger(0)
		_ = c.Close()
	}

	resp, _ := fetch(t, f.public+"/x", "Host", "staff.test", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:a-pass")))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("alice after the flood: %d, want 200", resp.StatusCode)
	}
	compared := 0
	for _, l := range logs.Lines(t, "basic authentication refused") {
		if l["reason"] == `wrong password for user "alice"` {
			compared++
		}
	}
	// A few were comparing, or had just got their turn, when their
	// clients left.
	if compared > flood/2 {
		t.Errorf("%d of the %d wrong passwords whose clients had left were compared before alice's login", compared, flood)
	}
}
