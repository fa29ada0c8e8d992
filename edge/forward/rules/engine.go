package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Request is what a decision is made on.
type Request struct {
	// Client is the client's address.
	Client netip.Addr
	// User is the authenticated user name; "" when none.
	User string
	// Groups are groups the proxy's authentication put User in, beside
	// those of Options.Groups.
	Groups []string
	// Host is the destination host as requested: a name or an IP literal,
	// without port or brackets.
	Host string
	// Port is the destination port.
	Port int
	// Method is "CONNECT" for a tunnel, else the request's method.
	Method string
	// Addr is the address Host resolved to, the zero Addr when the proxy
	// did not resolve it (NeedsAddr is false) or resolution failed; when
	// Host is an IP literal, that address is used when Addr is zero. A rule
	// with dest_networks never matches a zero address.
	Addr netip.Addr
}

// Decision is the outcome of Decide. The zero Decision denies.
type Decision struct {
	// Allow says whether the request may proceed.
	Allow bool
	// Rule is the name of the rule that decided, DefaultRule when none
	// matched, or LimitRule when the request rate limit refused.
	Rule string
	// Category is the category of the host: the one the deciding rule
	// matched through, else the first category (by name) that lists the
	// host; "" when none does.
	Category string
	// Limited is set, with Allow false, when the rules allowed the request
	// but the client is over its request rate: answer 429 with
	// Retry-After (RFC 6585 §4, RFC 9110 §10.2.3) rather than 403.
	Limited bool
	// RetryAfter is, with Limited, how long until the client's next
	// request would be allowed.
	RetryAfter time.Duration
	// Bandwidth, when non-nil, is the client's byte budget (bytes per
	// second, both directions together), shared by all the client's
	// requests and tunnels: wrap streams with LimitReader or LimitWriter,
	// or call WaitN(ctx, n) before moving n bytes (n at most its Burst,
	// which is at least 32 KiB). nil means unlimited.
	Bandwidth *rate.Limiter
}

// Engine decides on requests from checked Options and keeps list files
// current. It is safe for concurrent use.
type Engine struct {
	c      *compiled
	log    *slog.Logger
	limits *limiter
	// lists holds the parsed list files; replaced whole on reload, so
	// Decide reads one consistent snapshot without a lock.
	lists atomic.Pointer[fileSets]

	reloadMu sync.Mutex // serializes reloads; guards files
	files    []listFile

	stop context.CancelFunc
	done chan struct{} // closed when the reload loop has returned
}

// fileSets are the parsed list files, by category index, then by file.
type fileSets [][]*domainSet

// New checks opts, reads every list file, and starts polling the files
// for changes every ReloadInterval until Close. log receives reloads and
// reload failures; nil discards. Errors are as Check's.
func New(opts Options, log *slog.Logger) (*Engine, error) {
	c, err := compile(&opts)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{c: c, log: log, limits: newLimiter(c.limits), files: c.listFiles(), done: make(chan struct{})}
	sets := make(fileSets, len(c.catNames))
	for ci, paths := range c.catFiles {
		sets[ci] = make([]*domainSet, len(paths))
	}
	p := &problems{}
	for i := range e.files {
		f := &e.files[i]
		s, err := f.read()
		if err != nil {
			p.add(f.field, "%v", err)
			continue
		}
		sets[f.cat][f.idx] = s
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	e.lists.Store(&sets)
	ctx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	go e.run(ctx)
	return e, nil
}

// Close stops the reload loop and waits for it to return.
func (e *Engine) Close() error {
	e.stop()
	<-e.done
	return nil
}

// NeedsAddr reports whether any rule names destination networks: only
// then may the proxy have to resolve Host before Decide (NeedsAddrFor).
func (e *Engine) NeedsAddr() bool { return e.c.needsAddr }

// NeedsAddrFor reports whether Decide's answer for r at now depends on
// the destination's address, which r does not hold: a rule naming
// destination networks comes before the first rule that decides r
// without one. Otherwise the proxy need not resolve Host first, and a
// name a rule denies by its domain, user or port is never looked up.
func (e *Engine) NeedsAddrFor(r Request, now time.Time) bool { return e.needsAddr(&r, now) }

// Decide returns the decision for r at now: the first rule whose
// conditions all hold decides, else Options.Default; a request allowed so
// far then takes a token from its client's rate limit. It reads no files,
// takes no lock unless a limit applies, and does not allocate.
func (e *Engine) Decide(r Request, now time.Time) Decision {
	d := e.decideRules(&r, now)
	if !d.Allow || !e.limits.on() {
		return d
	}
	ok, retry, bw := e.limits.take(&r, now)
	if !ok {
		return Decision{Rule: LimitRule, Category: d.Category, Limited: true, RetryAfter: retry}
	}
	d.Bandwidth = bw
	return d
}

// Reload re-reads the list files whose modification time or size changed
// since they were read. A file that cannot be read or parsed keeps its
// previous contents; the errors are logged and returned joined, each
// naming its field, path and line. The Engine calls it every
// ReloadInterval; the proxy may call it too (on SIGHUP).
func (e *Engine) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	old := e.lists.Load()
	var next fileSets
	var errs []error
	for i := range e.files {
		f := &e.files[i]
		st, err := os.Stat(f.path)
		if err == nil && st.ModTime().Equal(f.mod) && st.Size() == f.size {
			continue
		}
		cand := *f
		s, err := cand.read()
		if err != nil {
			err = &FieldError{Field: f.field, Msg: err.Error()}
			errs = append(errs, err)
			e.log.Error("forward rules: list reload failed; keeping the previous list", "field", f.field, "path", f.path, "err", err)
			continue
		}
		if next == nil {
			next = slices.Clone(*old)
		}
		next[f.cat] = slices.Clone(next[f.cat])
		next[f.cat][f.idx] = s
		*f = cand
		e.log.Info("forward rules: list reloaded", "field", f.field, "path", f.path, "entries", s.len())
	}
	if next != nil {
		e.lists.Store(&next)
	}
	return errors.Join(errs...)
}

func (e *Engine) run(ctx context.Context) {
	defer close(e.done)
	if len(e.files) == 0 {
		return
	}
	t := time.NewTicker(e.c.reload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = e.Reload() // logged by Reload
		}
	}
}

// Clients is the number of clients the limits track.
func (e *Engine) Clients() int { return e.limits.len() }

// Categories returns the category names, sorted, for metric labels.
func (e *Engine) Categories() []string { return slices.Clone(e.c.catNames) }

// RuleNames returns every name Decision.Rule can take: the rules in
// order, then DefaultRule and LimitRule, for metric labels.
func (e *Engine) RuleNames() []string {
	out := make([]string, 0, len(e.c.rules)+2)
	for i := range e.c.rules {
		out = append(out, e.c.rules[i].name)
	}
	return append(out, DefaultRule, LimitRule)
}

// listFile is one list file as last read.
type listFile struct {
	field string // e.g. "categories.social.files[0]"
	path  string
	cat   int // category index
	idx   int // index among the category's files
	mod   time.Time
	size  int64
}

func (c *compiled) listFiles() []listFile {
	var out []listFile
	for ci, paths := range c.catFiles {
		for fi, path := range paths {
			out = append(out, listFile{field: fmt.Sprintf("categories.%s.files[%d]", c.catNames[ci], fi), path: path, cat: ci, idx: fi})
		}
	}
	return out
}

// read parses the file and records its modification time and size. The
// error says which path and line; the caller names the field.
func (f *listFile) read() (*domainSet, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	s := newDomainSet()
	if err := parseList(fh, s.add); err != nil {
		return nil, fmt.Errorf("%s: %w", f.path, err)
	}
	f.mod, f.size = fi.ModTime(), fi.Size()
	return s, nil
}
