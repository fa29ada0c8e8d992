package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 40 * time.Second // above edged's default shutdown_timeout
)

// child is one process of the demo.
type child struct {
	name  string
	path  string
	url   string // where it serves, for the intro
	args  []string
	env   []string // added to this process's environment
	ready string   // URL that answers 200 once the child serves
	// listens are the addresses the child binds, checked free before any
	// child starts.
	listens []listen

	cmd     *exec.Cmd
	log     string
	logFrom int64         // where this run's output starts in log
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result, set before done is closed
}

// listen is one address a child binds, with the flag that sets it.
type listen struct{ flag, addr string }

// run starts the children in order, prints what to try, waits for a signal
// (ctx) or for a child to die, then stops them in reverse order. Before
// anything starts or any log is opened it makes sure no other demo runs on
// data and that every address is free, so a second `make run` says why it
// cannot start and leaves the running one (and its logs) alone.
func run(ctx context.Context, data string, children []child) error {
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	unlock, err := lockData(data)
	if err != nil {
		return err
	}
	defer unlock()
	if err := checkPorts(children); err != nil {
		return err
	}
	logs := filepath.Join(data, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	var started []*child
	defer func() { stopAll(started) }()
	for i := range children {
		c := &children[i]
		if err := c.start(logs); err != nil {
			return err
		}
		started = append(started, c)
		if err := c.waitReady(ctx); err != nil {
			return err
		}
	}
	printIntro(children, logs)
	anyDone := make(chan *child, len(started))
	for _, c := range started {
		go func() { <-c.done; anyDone <- c }()
	}
	select {
	case <-ctx.Done():
		fmt.Println("\nstopping…")
		return nil
	case c := <-anyDone:
		return fmt.Errorf("%s exited (%v); see %s", c.name, c.err, c.log)
	}
}

// checkPorts binds every address the children will bind, and releases it,
// so that a taken one is named before anything starts.
func checkPorts(children []child) error {
	for _, c := range children {
		for _, l := range c.listens {
			ln, err := net.Listen("tcp", l.addr)
			if err != nil {
				return fmt.Errorf("port %s is taken (%s %s %s): another demo or another program listens there; stop it first",
					l.addr, c.name, l.flag, l.addr)
			}
			ln.Close()
		}
	}
	return nil
}

// start runs the child with its output appended to logs/NAME.log, after a
// line that marks the run: a log is never truncated, so nothing another
// process still writes to it turns into a hole of NUL bytes.
func (c *child) start(logs string) error {
	c.log = filepath.Join(logs, c.name+".log")
	f, err := os.OpenFile(c.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== demo: %s %s, started %s\n", c.name, strings.Join(c.args, " "), time.Now().Format(time.RFC3339))
	if c.logFrom, err = f.Seek(0, io.SeekCurrent); err != nil {
		f.Close()
		return err
	}
	c.cmd = exec.Command(c.path, c.args...)
	// A process group of its own: a terminal's Ctrl-C reaches the demo
	// alone, which then stops the children in order. Sharing the group,
	// a child could exit on the SIGINT before the demo saw it and be
	// reported as having died.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if len(c.env) > 0 {
		c.cmd.Env = append(os.Environ(), c.env...)
	}
	c.cmd.Stdout, c.cmd.Stderr = f, f
	if err := c.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s (run `make build` first?): %w", c.name, err)
	}
	c.done = make(chan struct{})
	go func() {
		c.err = c.cmd.Wait()
		f.Close()
		close(c.done)
	}()
	return nil
}

// waitReady polls c.ready until it answers 200.
func (c *child) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(readyTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(c.ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited at start (%v):\n%s", c.name, c.err, tail(c.log, c.logFrom))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v; see %s", c.name, readyTimeout, c.log)
		}
	}
}

// stopAll sends SIGTERM to each child, last started first, and waits for it
// (edged drains and flushes its store), killing it after stopTimeout.
func stopAll(children []*child) {
	for i := len(children) - 1; i >= 0; i-- {
		c := children[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(stopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		var ee *exec.ExitError
		switch {
		case c.err == nil:
			fmt.Printf("%s stopped\n", c.name)
		case errors.As(c.err, &ee) && !ee.Exited():
			fmt.Printf("%s stopped (%v)\n", c.name, ee) // killed by the signal, as demo-origin is
		default:
			fmt.Printf("%s stopped with an error: %v; see %s\n", c.name, c.err, c.log)
		}
	}
}

// tail returns the last lines of path written from offset from on.
func tail(path string, from int64) string {
	b, _ := os.ReadFile(path)
	if from <= int64(len(b)) {
		b = b[from:]
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

func printIntro(children []child, logs string) {
	fmt.Println("edged demo is running:")
	for _, c := range children {
		fmt.Printf("  %-13s %-23s %s\n", c.name, c.url, strings.Join(c.args, " "))
	}
	if children[len(children)-1].name == "edged-forward" {
		printForwardIntro(logs)
		return
	}
	e := "http://" + edgeAddr
	fmt.Printf(`
Logs (access logs are JSON lines): %s/
Metrics: http://%s/metrics    Origin routes: curl http://%s/

Try (-D - prints the response headers; watch Cache-Status):
  curl -s -o /dev/null -D - %[4]s/static/app.js     # 1st: Cache-Status ...; fwd=uri-miss; stored
  curl -s -o /dev/null -D - %[4]s/static/app.js     # 2nd: Cache-Status ...; hit
  curl -s http://%[5]s/_stats                          # the origin saw /static/app.js once
  curl -s -D - -H 'Accept-Language: fr' %[4]s/vary  # Vary: one stored variant per language
  curl -s -D - -H 'Accept-Language: de' %[4]s/vary
  curl -s -o /dev/null -D - %[4]s/nocache           # no-store: never stored, always forwarded
  curl -s -D - %[4]s/time                           # max-age=5, stale-while-revalidate=30
  curl -s -H 'Authorization: Bearer %[6]s' -d '{"urls":["%[4]s/static/app.js"]}' http://%[2]s/purge
                                                         # purge it: the next request is a miss again

Ctrl-C stops everything.
`, logs, edgeAdminAddr, originAddr, e, originAddr, purgeToken())
}

// purgeToken is the bearer token of the demo's purge API: the caller's
// EDGED_PURGE_TOKEN when set, else "demo" (the demo listens on loopback only).
func purgeToken() string {
	if t := os.Getenv("EDGED_PURGE_TOKEN"); t != "" {
		return t
	}
	return "demo"
}

// printForwardIntro is the forward demo's "try": curl -x through the proxy.
func printForwardIntro(logs string) {
	p := "http://" + forwardAddr
	fmt.Printf(`
Logs (one JSON line per request and tunnel): %s/
Metrics: http://%s/metrics    PAC file: curl %s/proxy.pac

Try (-x sends curl through the proxy; watch Cache-Status):
  curl -s -o /dev/null -D - -x %[3]s http://%[4]s/static/app.js   # 1st: edged-forward; fwd=uri-miss; stored
  curl -s -o /dev/null -D - -x %[3]s http://%[4]s/static/app.js   # 2nd: edged-forward; hit
  curl -s -D - -x %[3]s https://example.com/ -o /dev/null          # a CONNECT tunnel (needs the internet)
  curl -s -D - -x %[3]s http://10.0.0.1/                           # 403, X-Edged-Rule: destination

Ctrl-C stops everything.
`, logs, forwardAdminAddr, p, originAddr)
}
