package auth

import (
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// writeHtpasswd writes alice:s3cret to a file in t.TempDir.
func writeHtpasswd(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(path, []byte("alice:"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVerifyBasic: the user of right credentials; a wrong password and an
// unknown user are one error to the client, told apart only by the
// BasicError for the log; Basic beside an API key is refused; the
// challenge is RFC 7617's, after the others.
func TestVerifyBasic(t *testing.T) {
	v, err := NewVerifier(Options{APIKeys: &APIKeyOptions{Keys: []string{"k"}}, Basic: &BasicOptions{HtpasswdFile: writeHtpasswd(t), Realm: "staff"}})
	if err != nil {
		t.Fatal(err)
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		user    string
		want    error
		why     string
	}{
		{"right", map[string]string{"Authorization": basic("alice", "s3cret")}, "alice", nil, ""},
		{"scheme case", map[string]string{"Authorization": "bAsIc " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))}, "alice", nil, ""},
		{"wrong password", map[string]string{"Authorization": basic("alice", "nope")}, "", ErrInvalidCredentials, `wrong password for user "alice"`},
		{"unknown user", map[string]string{"Authorization": basic("mallory", "s3cret")}, "", ErrInvalidCredentials, `unknown user "mallory"`},
		{"bad base64", map[string]string{"Authorization": "Basic %%%"}, "", ErrInvalidCredentials, "Authorization: bad base64"},
		{"none", nil, "", ErrNoCredentials, ""},
		{"bearer", map[string]string{"Authorization": "Bearer x"}, "", ErrNoCredentials, ""},
		{"with an API key", map[string]string{"Authorization": basic("alice", "s3cret"), "X-API-Key": "k"}, "", ErrInvalidRequest, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		for k, val := range tc.headers {
			r.Header.Set(k, val)
		}
		id, err := v.Verify(r, now)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) || id.Subject != tc.user {
			t.Errorf("%s: %+v, %v; want %q, %v", tc.name, id, err, tc.user, tc.want)
			continue
		}
		if tc.user != "" && id.Method != MethodBasic {
			t.Errorf("%s: method %q", tc.name, id.Method)
		}
		var be *BasicError
		if errors.As(err, &be) != (tc.why != "") || (be != nil && be.Why != tc.why) {
			t.Errorf("%s: BasicError %+v, want why %q", tc.name, be, tc.why)
		}
		if err != nil && (strings.Contains(err.Error(), "alice") || strings.Contains(err.Error(), "mallory")) {
			t.Errorf("%s: error %q names the user (the client reads it)", tc.name, err)
		}
	}
	if got, want := v.Challenge(ErrNoCredentials), `APIKey realm="edged", header="X-API-Key", Basic realm="staff", charset="UTF-8"`; got != want {
		t.Errorf("challenge %q, want %q", got, want)
	}
}

// TestBasicOptionErrors: a bad file names the option, the file and the
// line; a bad realm and a missing file name their options.
func TestBasicOptionErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("# x\nalice:plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		o    BasicOptions
		want string
	}{
		{BasicOptions{HtpasswdFile: bad}, `Basic.HtpasswdFile: ` + bad + `:2: user "alice": not a bcrypt hash`},
		{BasicOptions{}, "Basic.HtpasswdFile: no htpasswd file"},
		{BasicOptions{HtpasswdFile: bad, Realm: `a"b`}, "Basic.Realm"},
		{BasicOptions{HtpasswdFile: filepath.Join(t.TempDir(), "none")}, "Basic.HtpasswdFile: "},
	} {
		_, err := NewVerifier(Options{Basic: &tc.o})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}
