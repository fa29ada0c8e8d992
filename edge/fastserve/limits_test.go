package fastserve

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// TestManyFieldsCostAsInNetHTTP: a head of up to MaxHeaderBytes made of
// tiny fields costs no more memory to read here than in net/http. The
// field map and values were once sized for every line of the head: a
// head of one name repeated cost twice net/http's memory, an
// amplification any client could use.
func TestManyFieldsCostAsInNetHTTP(t *testing.T) {
	for _, shape := range []string{"one name", "1000 names", "all distinct"} {
		var b strings.Builder
		b.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
		for i := 0; b.Len() < http.DefaultMaxHeaderBytes-100; i++ {
			switch shape {
			case "one name":
				b.WriteString("a:\r\n")
			case "1000 names":
				fmt.Fprintf(&b, "x%d:\r\n", i%1000)
			default:
				fmt.Fprintf(&b, "x%d:\r\n", i)
			}
		}
		b.WriteString("\r\n")
		head := []byte(b.String())
		here := allocated(func() {
			if _, ok := parseHead(head); !ok {
				t.Fatal("not served")
			}
		})
		std := allocated(func() {
			if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head))); err != nil {
				t.Fatal(err)
			}
		})
		if here > std+std/4 {
			t.Errorf("%s: %d KiB to read %d KiB of head, net/http %d KiB", shape, here>>10, len(head)>>10, std>>10)
		}
	}
}
