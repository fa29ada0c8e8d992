package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"edged/edge/auth/htpasswd"
	"edged/internal/fielderr"
)

// BasicOptions configure HTTP Basic authentication (RFC 7617) against an
// htpasswd file of bcrypt hashes, as nginx's auth_basic_user_file.
type BasicOptions struct {
	// HtpasswdFile holds the "user:bcrypt-hash" lines (htpasswd -B).
	// NewVerifier reads it; errors name the file and the line.
	HtpasswdFile string
	// Realm names the protection space of the Basic challenge, which a
	// browser shows in its password prompt; empty means Options.Realm.
	Realm string
}

func (o BasicOptions) validate() error {
	var l fielderr.List
	l.Check(o.HtpasswdFile != "", "HtpasswdFile", "no htpasswd file")
	l.Check(o.Realm == "" || isQuotedStringSafe(o.Realm), "Realm", "%q has characters a challenge cannot carry", o.Realm)
	return l.Err()
}

// basicVerifier checks Basic credentials against the file's users.
type basicVerifier struct {
	realm string
	users *htpasswd.Users
}

func newBasicVerifier(o BasicOptions) (*basicVerifier, error) {
	users, err := htpasswd.Load(o.HtpasswdFile)
	if err != nil {
		return nil, optionErr("Basic.HtpasswdFile", "%v", err)
	}
	return &basicVerifier{realm: o.Realm, users: users}, nil
}

// BasicError is an ErrInvalidCredentials with the reason, for the log
// only: its Error is a fixed phrase, so that a client is never told which
// of the user and the password was wrong (which names exist).
type BasicError struct {
	// Why names the user and says what was wrong with the credentials.
	Why string
}

func (e *BasicError) Error() string { return ErrInvalidCredentials.Error() }

func (e *BasicError) Unwrap() error { return ErrInvalidCredentials }

// verify checks one "Basic ..." Authorization value.
// It ends with ctx (the request's) while it waits for its turn to compare.
func (v *basicVerifier) verify(ctx context.Context, value string, now time.Time) (Identity, error) {
	user, why := v.users.Check(ctx, "Authorization", value, now)
	if user == "" {
		return Identity{}, &BasicError{Why: why}
	}
	return Identity{Method: MethodBasic, Subject: user}, nil
}

// isBasic reports whether an Authorization value is in the Basic scheme
// (RFC 9110 §11.1: the scheme is case-insensitive).
func isBasic(value string) bool {
	scheme, _, _ := strings.Cut(strings.TrimSpace(value), " ")
	return strings.EqualFold(scheme, "Basic")
}

// basicChallenge is the Basic challenge of RFC 7617 §2, with the charset
// parameter of §2.1: user names and passwords are read as UTF-8.
func (v *basicVerifier) challenge() string {
	return fmt.Sprintf(`Basic realm=%q, charset="UTF-8"`, v.realm)
}
