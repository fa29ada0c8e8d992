// Package procstat reads what a benchmark needs from Linux /proc: the CPU
// time (user + system) and the peak resident set (VmHWM) of a process and
// all its descendants, so that nginx's workers and Varnish's cache child
// count as much as edged's single process.
//
// CPU time is read in clock ticks of USER_HZ, which is 100 on every Linux
// architecture Go supports (proc(5): "units of clock ticks", sysconf
// _SC_CLK_TCK; the kernel fixes USER_HZ at 100 for the user ABI).
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ticksPerSecond is USER_HZ (see the package comment).
const ticksPerSecond = 100

// ErrFormat reports a /proc file that does not look as proc(5) says.
var ErrFormat = errors.New("procstat: unexpected /proc format")

// Stat is the part of /proc/PID/stat a benchmark uses.
type Stat struct {
	PID, PPID int
	// UTime and STime are CPU time in user and kernel mode.
	UTime, STime time.Duration
}

// CPU is user plus system time.
func (s Stat) CPU() time.Duration { return s.UTime + s.STime }

// ParseStat parses the contents of /proc/PID/stat. The command name (field
// 2) is in parentheses and may itself contain spaces and parentheses, so
// the fields after it are found from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 1 || closing < open {
		return Stat{}, fmt.Errorf("%w: stat has no (comm)", ErrFormat)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return Stat{}, fmt.Errorf("%w: stat pid: %v", ErrFormat, err)
	}
	// Fields from 3 (state) on; proc(5) numbers them from 1.
	rest := bytes.Fields(b[closing+1:])
	field := func(n int) (int64, error) {
		i := n - 3
		if i >= len(rest) {
			return 0, fmt.Errorf("%w: stat has %d fields, want %d", ErrFormat, len(rest)+2, n)
		}
		v, err := strconv.ParseInt(string(rest[i]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: stat field %d: %v", ErrFormat, n, err)
		}
		return v, nil
	}
	ppid, err := field(4)
	if err != nil {
		return Stat{}, err
	}
	ut, err := field(14)
	if err != nil {
		return Stat{}, err
	}
	st, err := field(15)
	if err != nil {
		return Stat{}, err
	}
	return Stat{PID: pid, PPID: int(ppid), UTime: ticks(ut), STime: ticks(st)}, nil
}

func ticks(n int64) time.Duration {
	return time.Duration(n) * time.Second / ticksPerSecond
}

// ParsePeakRSS returns VmHWM (the peak resident set) in bytes from the
// contents of /proc/PID/status. A process without memory (a zombie, a
// kernel thread) has no VmHWM line: 0 and no error.
func ParsePeakRSS(b []byte) (int64, error) { return statusBytes(b, "VmHWM") }

// ParseResident returns the current resident set of anonymous memory
// (RssAnon: the heap, stacks) and of file-backed pages (RssFile: mapped
// files such as edged's bbolt file, and the binary), in bytes, from the
// contents of /proc/PID/status. VmHWM counts both: the kernel can drop
// the file-backed pages under pressure, not the anonymous ones.
func ParseResident(b []byte) (anon, file int64, err error) {
	if anon, err = statusBytes(b, "RssAnon"); err != nil {
		return 0, 0, err
	}
	file, err = statusBytes(b, "RssFile")
	return anon, file, err
}

// statusBytes returns the value of the "name: N kB" line of a
// /proc/PID/status, in bytes; 0 and no error without such a line.
func statusBytes(b []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		v, ok := bytes.CutPrefix(line, []byte(name+":"))
		if !ok {
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%w: %s line %q", ErrFormat, name, line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		return kb * 1024, nil
	}
	return 0, sc.Err()
}

// Usage is the resource use of a process tree at one moment.
type Usage struct {
	CPU     time.Duration // user+system of every live process in the tree
	PeakRSS int64         // sum of the processes' VmHWM, bytes
	Procs   int
}

// Reader reads /proc under Root ("/proc" when empty; tests point it at a
// fixture directory).
type Reader struct{ Root string }

func (r Reader) root() string {
	if r.Root == "" {
		return "/proc"
	}
	return r.Root
}

// Tree returns pid and the PIDs of all its live descendants.
func (r Reader) Tree(pid int) ([]int, error) {
	ents, err := os.ReadDir(r.root())
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	children := make(map[int][]int)
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := r.stat(p)
		if err != nil {
			continue // exited meanwhile
		}
		children[st.PPID] = append(children[st.PPID], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

func (r Reader) stat(pid int) (Stat, error) {
	b, err := os.ReadFile(filepath.Join(r.root(), strconv.Itoa(pid), "stat"))
	if err != nil {
		return Stat{}, fmt.Errorf("procstat: %w", err)
	}
	return ParseStat(b)
}

// Sample sums CPU time and peak RSS over pid's tree.
func (r Reader) Sample(pid int) (Usage, error) {
	pids, err := r.Tree(pid)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	for _, p := range pids {
		st, err := r.stat(p)
		if err != nil {
			if p == pid {
				return Usage{}, err
			}
			continue
		}
		u.CPU += st.CPU()
		u.Procs++
		b, err := os.ReadFile(filepath.Join(r.root(), strconv.Itoa(p), "status"))
		if err != nil {
			continue
		}
		hwm, err := ParsePeakRSS(b)
		if err != nil {
			return Usage{}, fmt.Errorf("pid %d: %w", p, err)
		}
		u.PeakRSS += hwm
	}
	return u, nil
}

// ResetPeak resets VmHWM to the current RSS for every process of pid's
// tree (proc(5): writing 5 to /proc/PID/clear_refs), so the next Sample's
// PeakRSS is the peak of the run in between. Processes it may not touch
// are skipped; the peak then covers the process's whole life.
func (r Reader) ResetPeak(pid int) {
	pids, err := r.Tree(pid)
	if err != nil {
		return
	}
	for _, p := range pids {
		_ = os.WriteFile(filepath.Join(r.root(), strconv.Itoa(p), "clear_refs"), []byte("5"), 0)
	}
}
