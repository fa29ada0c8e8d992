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
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"edged/internal/buildinfo"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "`address` to listen on")
	version := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *version {
		fmt.Println(buildinfo.Read().Line("demo-origin"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *listen, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		fmt.Fprintln(os.Stderr, "demo-origin:", err)
		os.Exit(1)
	}
}

// serve binds addr, and only then says it listens (a port already taken is
// an error, never a "listening" line followed by one), and serves until ctx
// is done.
func serve(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           newOrigin(time.Now),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Info("demo origin listening", "addr", "http://"+ln.Addr().String())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
