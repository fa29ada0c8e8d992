package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"edged/bench/report"
	"edged/bench/targets"
)

// profile takes a CPU profile of edged target t from its admin listener's
// /debug/pprof while run puts load on it, keeps the profile in the results
// directory's profiles/ folder (not committed: see .gitignore), and returns
// a report section with the profile's top lines: the report then says what
// limits edged in the scenario, not only by how much.
func (b *bench) profile(ctx context.Context, t *target, title string, run func(ctx context.Context, d time.Duration) error) report.Section {
	sec := report.Section{Title: "Profile: " + t.name + ", " + title}
	if t.admin == "" || t.skip != "" {
		sec.Lines = []string{"not taken: " + t.name + " is not running with an admin listener"}
		return sec
	}
	secs := max(1, int(b.o.duration.Round(time.Second)/time.Second))
	type got struct {
		body []byte
		err  error
	}
	done := make(chan got, 1)
	go func() {
		body, err := fetchProfile(ctx, t.admin, secs)
		done <- got{body, err}
	}()
	// The load outlasts the profile window on both sides.
	loadErr := run(ctx, time.Duration(secs)*time.Second+time.Second)
	p := <-done
	if p.err == nil && loadErr != nil {
		p.err = fmt.Errorf("load during the profile: %w", loadErr)
	}
	if p.err != nil {
		sec.Lines = []string{"not taken: " + oneLine(p.err.Error())}
		return sec
	}
	dir := filepath.Join(b.o.out, "profiles")
	file := filepath.Join(dir, fileSlug(t.name+" "+title)+".pprof")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		sec.Lines = []string{"not saved: " + oneLine(err.Error())}
		return sec
	}
	if err := os.WriteFile(file, p.body, 0o644); err != nil {
		sec.Lines = []string{"not saved: " + oneLine(err.Error())}
		return sec
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=15", file).CombinedOutput()
	if err != nil {
		sec.Lines = []string{fmt.Sprintf("saved as %s; go tool pprof failed: %s", file, oneLine(err.Error()))}
		return sec
	}
	// The .pprof file is a build output, kept out of the repository
	// (.gitignore): the report says so, so that a reader of a committed
	// run does not look for it there.
	sec.Lines = []string{fmt.Sprintf("%d s CPU profile under load, saved as `%s` on the machine that ran it (profiles are not committed); `go tool pprof -top` (flat = in the function itself, cum = with what it calls):", secs, file)}
	sec.Code = pprofTop(string(top))
	return sec
}

// fetchProfile asks edged's admin listener for a CPU profile of secs seconds.
func fetchProfile(ctx context.Context, admin string, secs int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, secs), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+targets.EdgedDebugToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cpu profile: %s: %s", resp.Status, oneLine(string(body)))
	}
	return body, nil
}

// pprofTop drops the lines of `go tool pprof -top` that name the file and
// build, which differ on every run and say nothing about the profile.
func pprofTop(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "File:"), strings.HasPrefix(l, "Build ID:"), strings.HasPrefix(l, "Time:"):
			continue
		}
		keep = append(keep, l)
	}
	return strings.TrimSpace(strings.Join(keep, "\n"))
}

// fileSlug turns a scenario title into a file name: lower-case letters,
// digits and single dashes.
func fileSlug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}
