package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"edged/purge"
)

// errNotProved is the reason a command sent nothing: the listener did not
// prove that it holds the purge token.
var errNotProved = errors.New("the purge token was not sent")

// proveAdmin asks the admin listener at base, without credentials, to prove
// that it holds token (GET /purge?challenge=…, purge.AdminProof), and
// returns nil only when it did. Sending the token to whatever answers at
// base would hand it to an origin when base is a node's public listener
// (which passes /purge and /inspect to the origin, Authorization field
// included) or to anyone else listening there.
func proveAdmin(ctx context.Context, client *http.Client, base, token string) error {
	ep, err := endpoint(base, "/purge")
	if err != nil {
		return err
	}
	var nonce [32]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails (Go 1.24)
	challenge := hex.EncodeToString(nonce[:])
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep+"?challenge="+challenge, nil)
	if err != nil {
		return err
	}
	resp, err := noRedirects(client).Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ans struct {
		Proof string `json:"proof"`
		Error string `json:"error"`
	}
	jsonErr := json.Unmarshal(raw, &ans)
	// An answer with Cache-Status went through a node's cache: a public
	// listener, whatever it says.
	viaCache := resp.Header.Get("Cache-Status") != ""
	switch {
	case !viaCache && resp.StatusCode == http.StatusOK && jsonErr == nil && ans.Proof != "":
		if hmac.Equal([]byte(ans.Proof), []byte(purge.AdminProof(token, challenge))) {
			return nil
		}
		return fmt.Errorf("%s did not prove it holds your purge token (a wrong token, or not a node's admin listener); %w", base, errNotProved)
	case !viaCache && jsonErr == nil && ans.Error != "":
		// The node's own refusal: no token configured (503), or an edged
		// older than the proof (405). Either way nothing can be proved.
		return fmt.Errorf("%s: %s: %s; %w", base, resp.Status, ans.Error, errNotProved)
	default:
		return fmt.Errorf("%s did not prove it is an edged admin listener holding the purge token (%s)%s; %w",
			base, resp.Status, adminHintText, errNotProved)
	}
}

// noRedirects is client following no redirect: a request that carries the
// token goes where it was sent, or nowhere.
func noRedirects(client *http.Client) *http.Client {
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}
