package htpasswd

import (
	"context"
	"encoding/base64"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func hashOf(t testing.TB, pass string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestParseErrors: every refused file names the file and the line.
func TestParseErrors(t *testing.T) {
	good := hashOf(t, "x", bcrypt.MinCost)
	for _, tc := range []struct{ file, want string }{
		{"# only a comment\n\n", "f: no users"},
		{"alice\n", "f:1: want user:bcrypt-hash"},
		{"\n:" + good + "\n", "f:2: want user:bcrypt-hash"},
		{"alice:{SHA}abc\n", `f:1: user "alice": not a bcrypt hash`},
		{"alice:$apr1$salt$hash\n", `f:1: user "alice": not a bcrypt hash`},
		{"alice:" + good + "\n#\nalice:" + good + "\n", `f:3: user "alice" is listed twice`},
	} {
		_, err := Parse([]byte(tc.file), "f")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.file, err, tc.want)
		}
	}
}

// TestCheck: the reasons, for the log, and the decoy: an unknown name is
// compared against the costliest hash of the file, so that it takes as long
// as a known name with a wrong password.
func TestCheck(t *testing.T) {
	u, err := Parse([]byte("alice:"+hashOf(t, "s3cret", bcrypt.MinCost)+"\nbob:"+hashOf(t, "b", bcrypt.MinCost+2)+"\n"), "f")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost(u.acct.Load().decoy); cost != bcrypt.MinCost+2 {
		t.Errorf("decoy cost %d, want the costliest %d", cost, bcrypt.MinCost+2)
	}
	now := time.Now()
	for _, tc := range []struct{ value, user, why string }{
		{"", "", "no Authorization"},
		{"Bearer x", "", "Authorization is not Basic"},
		{"Basic !!", "", "Authorization: bad base64"},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("alice")), "", "Authorization: no user:password"},
		{basic("alice", "wrong"), "", `wrong password for user "alice"`},
		{basic("mallory", "s3cret"), "", `unknown user "mallory"`},
		{basic("alice", "s3cret"), "alice", ""},
		{"basic  " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")), "alice", ""},
		{basic("bob", "b"), "bob", ""},
	} {
		user, why := u.Check(t.Context(), "Authorization", tc.value, now)
		if user != tc.user || why != tc.why {
			t.Errorf("Check(%q) = %q, %q; want %q, %q", tc.value, user, why, tc.user, tc.why)
		}
	}
}

// FuzzParse: no file makes Parse panic, and every file it accepts has at
// least one user, each with a hash bcrypt can read, and a decoy.
func FuzzParse(f *testing.F) {
	good := hashOf(f, "x", bcrypt.MinCost)
	for _, s := range []string{"", "#\n", "alice:" + good, "alice:" + good + "\r\nbob:" + good, "a:b:c", ":" + good, "alice:$2y$04$short"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := Parse(data, "f")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		a := u.acct.Load()
		if len(a.hashes) == 0 || a.decoy == nil {
			t.Fatalf("accepted %q with no users or no decoy", data)
		}
		for user, h := range a.hashes {
			if _, err := bcrypt.Cost(h); err != nil || user == "" {
				t.Fatalf("accepted user %q hash %q: %v", user, h, err)
			}
		}
	})
}

// FuzzCheck: no Authorization value a client sends makes Check panic, and
// it names a user only for that user's right password.
func FuzzCheck(f *testing.F) {
	u, err := Parse([]byte("alice:"+hashOf(f, "s3cret", bcrypt.MinCost)+"\n"), "f")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "Basic", "Basic ", basic("alice", "s3cret"), basic("alice", ""), basic("", ""), "Basic YWxpY2U=", "bAsIc\tx", "Basic ====", basic("alice:x", "y")} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, value string) {
		user, why := u.Check(t.Context(), "Authorization", value, now)
		if (user == "") == (why == "") {
			t.Fatalf("Check(%q) = %q, %q: want a user or a reason", value, user, why)
		}
		if user != "" {
			_, token, _ := strings.Cut(strings.TrimSpace(value), " ")
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
			if err != nil || user != "alice" || string(raw) != "alice:s3cret" {
				t.Fatalf("Check(%q) admitted %q for %q", value, user, raw)
			}
		}
	})
}

// The bound on bcrypt comparisons is the process's, not each file's: every
// route with Basic auth loads its own Users, and a bound each let a client
// guessing on several routes take as many more cores. While one file's
// slow checks hold every place, a check of another file waits (and ends
// with its context); with a bound per file it would find a place of its
// own at once and compare. Only the public API is used, so the test runs
// against either design.
func TestChecksBoundedAcrossUsers(t *testing.T) {
	parse := func(user string, cost int) *Users {
		u, err := Parse([]byte(user+":"+hashOf(t, "s3cret", cost)+"\n"), user+".htpasswd")
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	// Slow enough that several of them hold the places a while, at least
	// one at any moment until they all end.
	busy, other := parse("alice", bcrypt.MinCost+6), parse("bob", bcrypt.MinCost)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) { // as many as the places (half the cores, one at least), or more
		wg.Go(func() { busy.Check(t.Context(), "Authorization", basic("alice", "wrong"), time.Now()) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		user, why := other.Check(ctx, "Authorization", basic("bob", "wrong"), time.Now())
		cancel()
		if user != "" {
			t.Fatalf("a wrong password admitted %q", user)
		}
		if strings.Contains(why, "waited") {
			break // bob's check found no place: alice's checks held them all
		}
		select {
		case <-done:
			t.Fatalf("bob's checks never waited while alice's held the places (last: %q): the bound is not shared by the files", why)
		default:
		}
	}
	<-done
}

// Replace racing checks (a reload while requests log in), under -race:
// every check ends, admitting alice by the password of one file or
// refusing, and once Replace returns the old password no longer works (no
// remembered credential outlives its file) and the new one does.
func TestReplaceRacingChecks(t *testing.T) {
	parse := func(pass string) *Users {
		u, err := Parse([]byte("alice:"+hashOf(t, pass, bcrypt.MinCost)+"\n"), "f")
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	u, files := parse("old"), []*Users{parse("new"), parse("old")}
	now := time.Now()
	var wg sync.WaitGroup
	for _, pass := range []string{"old", "new"} {
		wg.Go(func() {
			for range 20 {
				// Either file admits its own password and refuses the other's.
				if user, why := u.Check(t.Context(), "Authorization", basic("alice", pass), now); user != "" && user != "alice" {
					t.Errorf("Check(%s) = %q, %q", pass, user, why)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			u.Replace(files[i%2])
		}
	})
	wg.Wait()
	u.Replace(files[0])
	if user, why := u.Check(t.Context(), "Authorization", basic("alice", "old"), now); user != "" {
		t.Errorf("the replaced password still admits %q (%s)", user, why)
	}
	if user, why := u.Check(t.Context(), "Authorization", basic("alice", "new"), now); user != "alice" {
		t.Errorf("the new password: %q, %q; want alice", user, why)
	}
}
