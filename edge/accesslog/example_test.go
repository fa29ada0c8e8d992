package accesslog_test

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"edged/edge/accesslog"
)

func ExampleRecord_AppendCombined() {
	r := accesslog.Record{
		Time:   time.Date(2026, time.December, 6, 9, 52, 3, 0, time.UTC),
		Client: netip.MustParseAddr("198.51.100.7"), Method: "GET", Target: "/a.css", Proto: "HTTP/1.1",
		Status: 200, Bytes: 512, UserAgent: "curl/8.5 \"quoted\"\n",
	}
	fmt.Print(string(r.AppendCombined(nil)))
	// Output:
	// 198.51.100.7 - - [06/Dec/2026:09:52:03 +0000] "GET /a.css HTTP/1.1" 200 512 "-" "curl/8.5 \x22quoted\x22\x0A"
}

func ExampleWriter() {
	w, err := accesslog.New(accesslog.Options{Output: os.Stdout, Format: accesslog.Combined})
	if err != nil {
		fmt.Println(err)
		return
	}
	w.Log(&accesslog.Record{
		Time:   time.Date(2026, time.December, 6, 9, 52, 3, 0, time.UTC),
		Client: netip.MustParseAddr("2001:db8::1"), User: "alice", Method: "HEAD", Target: "/", Proto: "HTTP/2.0", Status: 304,
	})
	_ = w.Close() // writes what is buffered
	// Output:
	// 2001:db8::1 - alice [06/Dec/2026:09:52:03 +0000] "HEAD / HTTP/2.0" 304 0 "-" "-"
}
