package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// adminFlags are the flags of the commands that send the purge token to a
// node's admin listener (purge, inspect, reload).
type adminFlags struct {
	admin, token *string
	timeout      time.Duration
}

func addAdminFlags(fs *flag.FlagSet) *adminFlags {
	f := &adminFlags{
		admin: fs.String("admin", "", "admin `URL` of a node (default $EDGED_ADMIN or "+defaultAdmin+")"),
		token: fs.String("token", "", "purge API bearer `token` (default $EDGED_PURGE_TOKEN)"),
	}
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "give up after this `duration`")
	return f
}

// adminTarget is where such a command goes: the admin URL (whose listener
// must prove it holds token), its endpoint at path, and the token.
type adminTarget struct {
	admin, endpoint, token string
	timeout                time.Duration
}

// target resolves the flags, then EDGED_ADMIN and EDGED_PURGE_TOKEN; a
// missing token is a usage error.
func (f *adminFlags) target(getenv func(string) string, path string) (adminTarget, error) {
	t := adminTarget{admin: adminURL(*f.admin, getenv), token: *f.token, timeout: f.timeout}
	if t.token == "" {
		t.token = getenv("EDGED_PURGE_TOKEN")
	}
	if t.token == "" {
		return adminTarget{}, fmt.Errorf("no token: set EDGED_PURGE_TOKEN (or --token); %s takes the purge token", path)
	}
	var err error
	if t.endpoint, err = endpoint(t.admin, path); err != nil {
		return adminTarget{}, err
	}
	return t, nil
}

// call is the token-bearing exchange with the admin listener: the
// listener proves first that it holds the token (proveAdmin), then req
// (to t.endpoint) is sent with it; the answer's body, at most limit bytes,
// is read whole. The error says which step failed.
func (t adminTarget) call(ctx context.Context, client *http.Client, req *http.Request, limit int64) (*http.Response, []byte, error) {
	if err := proveAdmin(ctx, client, t.admin, t.token); err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	resp, err := noRedirects(client).Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", t.endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp, raw, nil
}

// errNoArgs is the usage error of a command given arguments it does not take.
var errNoArgs = errors.New("takes no arguments")

// flagSet is a command's flag set, printing usage (then the flags) on -h
// or an error.
func flagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}
