package rules

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"edged/internal/logtest"
)

// rewrite replaces a list file and moves its modification time on, so a
// change is seen even on file systems with coarse timestamps.
func rewrite(tb testing.TB, path, content string, mod time.Time) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		tb.Fatal(err)
	}
}

func listOptions(path string) Options {
	return Options{
		Categories: map[string]Category{"blocked": {Files: []string{path}}},
		List:       []Rule{{Name: "blocked", Action: ActionDeny, Categories: []string{"blocked"}}},
	}
}

func allowed(e *Engine, h string) bool {
	return e.Decide(Request{Client: addr("127.0.0.1"), Host: h, Port: 443}, monday10).Allow
}

// TestReloadKeepsOldListOnError: a changed file is read again; one that
// no longer parses keeps the previous contents and the error names the
// field, path and line; a fixed file is picked up.
func TestReloadKeepsOldListOnError(t *testing.T) {
	path := writeList(t, t.TempDir(), "blocked.txt", "one.test\n")
	var logs logtest.Buffer // the engine's watcher logs from a goroutine of its own
	e, err := New(listOptions(path), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if allowed(e, "www.one.test") || !allowed(e, "two.test") {
		t.Fatal("initial list not in force")
	}
	if err := e.Reload(); err != nil {
		t.Fatalf("Reload of an unchanged file: %v", err)
	}

	base := time.Now().Add(-time.Hour)
	rewrite(t, path, "two.test\n", base)
	if err := e.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if !allowed(e, "one.test") || allowed(e, "two.test") {
		t.Error("changed list not in force after Reload")
	}

	rewrite(t, path, "three.test\nthis is not a domain\n", base.Add(time.Minute))
	err = e.Reload()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "categories.blocked.files[0]" || !strings.Contains(fe.Msg, path) || !strings.Contains(fe.Msg, "line 2") {
		t.Fatalf("Reload of a bad file = %v, want a FieldError naming the field, path and line 2", err)
	}
	if allowed(e, "two.test") || !allowed(e, "three.test") {
		t.Error("a list that failed to parse replaced the previous one")
	}
	if !strings.Contains(logs.String(), "keeping the previous list") {
		t.Errorf("failure not logged: %s", logs.String())
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(); err == nil || allowed(e, "two.test") {
		t.Errorf("removed file: Reload = %v, two.test allowed = %v; want an error and the old list", err, allowed(e, "two.test"))
	}

	rewrite(t, path, "three.test\n", base.Add(2*time.Minute))
	if err := e.Reload(); err != nil {
		t.Fatalf("Reload after the fix: %v", err)
	}
	if !allowed(e, "two.test") || allowed(e, "three.test") {
		t.Error("fixed list not in force")
	}
}

// TestReloadPolls: the Engine reloads by itself every reload_interval,
// and stops when closed. The clock is synctest's.
func TestReloadPolls(t *testing.T) {
	path := writeList(t, t.TempDir(), "blocked.txt", "one.test\n")
	synctest.Test(t, func(t *testing.T) {
		o := listOptions(path)
		o.ReloadInterval = "10s"
		e, err := New(o, nil)
		if err != nil {
			t.Fatal(err)
		}
		rewrite(t, path, "two.test\n", time.Unix(1e9, 0))
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if allowed(e, "one.test") {
			t.Error("reloaded before the interval")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if !allowed(e, "one.test") || allowed(e, "two.test") {
			t.Error("not reloaded after the interval")
		}
		e.Close() // the bubble fails if the reload loop outlives it
	})
}
