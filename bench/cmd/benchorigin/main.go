// Command benchorigin is the test origin of the side-by-side benchmarks,
// and with -ceiling the "ceiling": the least a net/http server can do to
// serve the same bytes from memory.
//
//	benchorigin -listen 127.0.0.1:9100            # the origin: counts every request
//	benchorigin -listen 127.0.0.1:9101 -ceiling   # the ceiling: no counting
//
// GET /obj/SIZE/NAME answers a SIZE-byte text body (the same bytes for
// every NAME of one SIZE) with Cache-Control: public, max-age=3600, so
// every cache in front of it stores it. ?delay=MS holds the answer back
// for MS milliseconds (at most 10 s), to keep a miss in flight. The origin
// counts requests per path; GET /_stats?path=P answers
// {"total":N,"path":M} (M = requests for path P; /_stats is not counted).
// Loopback use only: it has no limits beyond a 64 MiB body.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9100", "`address` to listen on")
	ceiling := flag.Bool("ceiling", false, "serve bodies only: no counting, no delay (the ceiling)")
	flag.Parse()
	var h http.Handler = newOrigin()
	if *ceiling {
		h = newCeiling()
	}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "benchorigin:", err)
		os.Exit(1)
	}
}
