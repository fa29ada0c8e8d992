package targets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ErrExited reports a process that exited while it should be serving.
var ErrExited = errors.New("targets: process exited")

// Proc is a started server process and its process group.
type Proc struct {
	Name    string
	Log     string // file holding its stdout and stderr
	Started time.Time
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // set before done is closed
}

// Start starts argv as name in its own process group, output to
// logDir/name.log. The kernel kills it if the benchmark dies
// (PR_SET_PDEATHSIG), so no server outlives a crashed run.
func Start(name, logDir string, argv []string, env ...string) (*Proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{}), Started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID is the process's id (the process group's too).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM to the process group, waits up to grace, then sends
// SIGKILL to the group. It returns once the process has exited, or after
// grace plus 5 s if even SIGKILL did not reap it.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
		// The leader is gone; make sure its workers are too.
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("stop %s: killed after %v", p.Name, grace)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("stop %s: still running after SIGKILL", p.Name)
	}
}

// Tail returns the last bytes of the process's log, for error messages.
func (p *Proc) Tail() string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// WaitHTTP polls url until it answers with a status below 500, the
// process exits, or timeout passes.
func (p *Proc) WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w: %s (%v): %s", ErrExited, p.Name, p.err, p.Tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %v: %s", p.Name, url, timeout, p.Tail())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
