package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"edged/edge/accesslog"
)

// openAccessLog starts the access log writer (log.access), shared by the
// edge handler and the forward proxy; nil when it is off. Lines go to
// log.access.file, or to stdout.
func (n *node) openAccessLog(stdout io.Writer, reg prometheus.Registerer) error {
	if n.cfg.Log.Access.Off {
		return nil
	}
	opts := n.cfg.AccessLogOptions()
	opts.Output, opts.Registerer, opts.Logger = stdout, reg, n.log.With("component", "accesslog")
	w, err := accesslog.New(opts)
	if err != nil {
		return fmt.Errorf("log.access.file: %w", err)
	}
	n.accessLog = w
	return nil
}

// watchReopen reopens the access log file on SIGUSR1, after logrotate has
// renamed it (nginx's convention), until ctx ends or stop is called.
func (n *node) watchReopen(ctx context.Context) (stop func()) {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-usr1:
				n.reopenAccessLog()
			case <-ctx.Done():
				return
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(usr1)
		close(done)
	}
}

// reopenAccessLog is what SIGUSR1 does: the lines logged from now on go to
// a new file under log.access.file's name.
func (n *node) reopenAccessLog() {
	if n.accessLog == nil || n.cfg.Log.Access.File == "" {
		return
	}
	if err := n.accessLog.Reopen(); err != nil {
		n.log.Error("access log not reopened; still writing to the old file", "file", n.cfg.Log.Access.File, "err", err)
		return
	}
	n.log.Info("access log reopened", "file", n.cfg.Log.Access.File)
}

// closeAccessLog writes the lines still buffered and closes the file: after
// the servers and the proxy have stopped, so no line is logged after it.
func (n *node) closeAccessLog() {
	if n.accessLog == nil {
		return
	}
	if err := n.accessLog.Close(); err != nil {
		n.log.Warn("close access log", "err", err)
	}
}
