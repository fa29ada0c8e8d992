package forward

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Users are the accounts of an htpasswd-style file: one "user:hash" line
// each, the hash made by bcrypt ($2a$, $2b$ or $2y$, as `htpasswd -B`
// writes). Blank lines and lines starting with '#' are ignored.
//
// bcrypt is slow on purpose (tens of milliseconds a check), too slow to pay
// on every request of a browser: a password that matched is remembered,
// as a SHA-256 of it, for credentialTTL, and at most maxChecks bcrypt
// comparisons run at once, so that a flood of wrong passwords cannot take
// every core.
type Users struct {
	hashes map[string][]byte

	sem chan struct{} // bounds concurrent bcrypt comparisons
	// decoy is the costliest hash of the file, compared for unknown names.
	decoy []byte

	mu   sync.Mutex // guards seen
	seen map[string]seenCredential
}

// seenCredential is a password that matched recently.
type seenCredential struct {
	sum     [sha256.Size]byte
	expires time.Time
}

const (
	credentialTTL = 5 * time.Minute
	maxChecks     = 2
	maxSeen       = 10000
)

// LoadUsers reads an htpasswd-style file of bcrypt hashes. Errors name the
// file and line.
func LoadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return ParseUsers(data, path)
}

// ParseUsers reads the content of an htpasswd-style file; name is used in
// errors.
func ParseUsers(data []byte, name string) (*Users, error) {
	u := &Users{hashes: make(map[string][]byte), sem: make(chan struct{}, maxChecks), seen: make(map[string]seenCredential)}
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
		if _, dup := u.hashes[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q is listed twice", name, line, user)
		}
		u.hashes[user] = []byte(hash)
		if cost > decoyCost {
			u.decoy, decoyCost = []byte(hash), cost
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(u.hashes) == 0 {
		return nil, fmt.Errorf("%s: no users", name)
	}
	return u, nil
}

// compare runs one bcrypt comparison, at most maxChecks at a time: each
// costs tens of milliseconds of CPU.
func (u *Users) compare(hash []byte, pass string) error {
	u.sem <- struct{}{}
	defer func() { <-u.sem }()
	return bcrypt.CompareHashAndPassword(hash, []byte(pass))
}

// check returns the user named by a Proxy-Authorization value (RFC 9110
// §11.7.2, the Basic scheme of RFC 7617), or "" and why it was refused,
// for the log only: the client is told nothing of it (which names exist).
func (u *Users) check(value string, now time.Time) (user, why string) {
	if value == "" {
		return "", "no Proxy-Authorization"
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "Proxy-Authorization is not Basic"
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil {
		return "", "Proxy-Authorization: bad base64"
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "Proxy-Authorization: no user:password"
	}
	hash, known := u.hashes[user]
	if !known {
		// An unknown name costs a bcrypt comparison too, against a hash
		// of the file's own cost: answering it at once would tell a
		// client which names exist (user enumeration by timing).
		_ = u.compare(u.decoy, pass)
		return "", "unknown user " + strconv.Quote(user)
	}
	sum := sha256.Sum256(raw)
	u.mu.Lock()
	s, seen := u.seen[user]
	u.mu.Unlock()
	if seen && now.Before(s.expires) && subtle.ConstantTimeCompare(s.sum[:], sum[:]) == 1 {
		return user, ""
	}
	if err := u.compare(hash, pass); err != nil {
		return "", "wrong password for user " + strconv.Quote(user)
	}
	u.mu.Lock()
	if len(u.seen) >= maxSeen {
		clear(u.seen) // a bound, not a policy: users check again once
	}
	u.seen[user] = seenCredential{sum: sum, expires: now.Add(credentialTTL)}
	u.mu.Unlock()
	return user, ""
}
