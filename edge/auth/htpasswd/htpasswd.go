// Package htpasswd holds the accounts of an htpasswd-style file and checks
// HTTP Basic credentials (RFC 7617) against them, for the forward proxy's
// Proxy-Authorization and a gateway route's Authorization alike.
//
// # Contract
//
// [Load] and [Parse] accept only bcrypt hashes ($2a$, $2b$, $2y$, as
// `htpasswd -B` writes); an error names the file and the line. [Users.Check]
// costs one bcrypt comparison for a known name and for an unknown one
// (against the file's costliest hash), so timing does not tell which names
// exist when the file's hashes share one cost (a user with a cheaper hash
// answers faster than an unknown name); the reason it returns is for the
// log, never the client. A check waiting for its turn to compare ends with
// its context. A password
// that matched is remembered (as a SHA-256) for a few minutes; [Users.Replace]
// swaps in a file read again and forgets every remembered password. Users is
// safe for concurrent use.
package htpasswd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Users are the accounts of an htpasswd-style file: one "user:hash" line
// each, the hash made by bcrypt ($2a$, $2b$ or $2y$, as `htpasswd -B`
// writes). Blank lines and lines starting with '#' are ignored.
//
// bcrypt is slow on purpose (tens of milliseconds a check), too slow to pay
// on every request of a browser: a password that matched is remembered,
// as a SHA-256 of it, for credentialTTL, and at most half the cores
// (one on a machine of one or two) run bcrypt comparisons at once, for
// every Users of the process together, so that a
// flood of wrong passwords cannot take every core. A check waiting for its
// turn ends with its request: the comparisons of requests their clients
// gave up (an HTTP/2 stream reset, a connection reset) are never run, so a
// client cannot queue CPU time for after it left.
//
// Replace swaps in the accounts of a file read again (a reload), so that
// adding or removing a user needs no restart.
type Users struct {
	acct atomic.Pointer[accounts] // the file's accounts; Replace swaps them

	mu   sync.Mutex // guards seen
	seen map[string]seenCredential
}

// accounts are the users of one reading of the file.
type accounts struct {
	hashes map[string][]byte
	// decoy is the costliest hash of the file, compared for unknown names.
	decoy []byte
}

// seenCredential is a password that matched recently, against acct: a
// credential remembered from accounts since replaced is checked again, so
// a changed password stops working at once.
type seenCredential struct {
	sum     [sha256.Size]byte
	expires time.Time
	acct    *accounts
}

const (
	credentialTTL = 5 * time.Minute
	maxSeen       = 10000
)

// maxChecks bounds the bcrypt comparisons that run at once: half the
// cores, at least one. A fixed 2 took every core of a two-core node.
func maxChecks() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// checks holds a place for each bcrypt comparison under way, in the whole
// process: every route with Basic auth and the forward proxy load a Users
// of their own, and a bound per Users let a client guessing on several
// routes at once take as many more cores.
var checks = make(chan struct{}, maxChecks())

// Load reads an htpasswd-style file of bcrypt hashes. Errors name the
// file and line.
func Load(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return Parse(data, path)
}

// Parse reads the content of an htpasswd-style file; name is used in
// errors.
func Parse(data []byte, name string) (*Users, error) {
	a := &accounts{hashes: make(map[string][]byte)}
	decoyCost := -1
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(text, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: want user:bcrypt-hash", name, line)
		}
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash (make one with htpasswd -B): %w", name, line, user, err)
		}
		if _, dup := a.hashes[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q is listed twice", name, line, user)
		}
		a.hashes[user] = []byte(hash)
		if cost > decoyCost {
			a.decoy, decoyCost = []byte(hash), cost
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(a.hashes) == 0 {
		return nil, fmt.Errorf("%s: no users", name)
	}
	u := &Users{seen: make(map[string]seenCredential)}
	u.acct.Store(a)
	return u, nil
}

// Replace makes next's accounts u's, for every check from now on: a user
// removed from the file is refused, a changed password is checked against
// its new hash (no remembered credential outlives the accounts it matched).
func (u *Users) Replace(next *Users) {
	u.acct.Store(next.acct.Load())
	u.mu.Lock()
	clear(u.seen)
	u.mu.Unlock()
}

// compare runs one bcrypt comparison, at most maxChecks at a time: each
// costs tens of milliseconds of CPU. It gives up its place in the queue
// when ctx ends: the client is gone, and a flood of requests sent and
// reset at once queued a comparison each, run after their clients left
// and ahead of every later login.
func (u *Users) compare(ctx context.Context, hash []byte, pass string) error {
	select {
	case checks <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("request ended while its check waited: %w", context.Cause(ctx))
	}
	defer func() { <-checks }()
	return bcrypt.CompareHashAndPassword(hash, []byte(pass))
}

// Check returns the user named by the value of the credentials field
// (Authorization, RFC 9110 §11.6.2, or Proxy-Authorization, §11.7.2) in
// the Basic scheme of RFC 7617, or "" and why it was refused, for the log
// only: the client is told nothing of it (which names exist). A check that
// waits for a bcrypt comparison ends when ctx does (the request's: its
// client left), refused.
func (u *Users) Check(ctx context.Context, field, value string, now time.Time) (user, why string) {
	if value == "" {
		return "", "no " + field
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", field + " is not Basic"
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil {
		return "", field + ": bad base64"
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", field + ": no user:password"
	}
	a := u.acct.Load()
	hash, known := a.hashes[user]
	if !known {
		// An unknown name costs a bcrypt comparison too, against a hash
		// of the file's own cost: answering it at once would tell a
		// client which names exist (user enumeration by timing).
		_ = u.compare(ctx, a.decoy, pass)
		return "", "unknown user " + strconv.Quote(user)
	}
	sum := sha256.Sum256(raw)
	u.mu.Lock()
	s, seen := u.seen[user]
	u.mu.Unlock()
	if seen && s.acct == a && now.Before(s.expires) && subtle.ConstantTimeCompare(s.sum[:], sum[:]) == 1 {
		return user, ""
	}
	if err := u.compare(ctx, hash, pass); err != nil {
		if ctx.Err() != nil {
			return "", err.Error()
		}
		return "", "wrong password for user " + strconv.Quote(user)
	}
	u.mu.Lock()
	if len(u.seen) >= maxSeen {
		clear(u.seen) // a bound, not a policy: users check again once
	}
	u.seen[user] = seenCredential{sum: sum, expires: now.Add(credentialTTL), acct: a}
	u.mu.Unlock()
	return user, ""
}
