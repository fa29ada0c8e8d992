// Command demo-origin is a small origin server that shows what a cache in
// front of it does. It is a demo and test aid, not for production: it has no
// limits worth the name and keeps its statistics in memory.
//
//	demo-origin -listen 127.0.0.1:9000
//
// GET / lists the routes. Every request is counted per path; GET /_stats
// returns the counts as JSON, so a demo (or a test) can show that a cache
// hit never reached the origin.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "`address` to listen on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv := &http.Server{
		Addr:              *listen,
		Handler:           newOrigin(time.Now),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Info("demo origin listening", "addr", "http://"+*listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "demo-origin:", err)
		os.Exit(1)
	}
}
