package auth

import (
	"cmp"
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"edged/internal/fielderr"
	"edged/internal/netaddr"
)

// Defaults of RemoteJWKS.
const (
	DefaultJWKSRefresh    = 15 * time.Minute
	DefaultJWKSMinRefetch = 30 * time.Second
	DefaultJWKSTimeout    = 10 * time.Second
)

// noKeyHeld is the kid asked for to refetch a set of which no key is
// held; a kid is any string, this one is for us alone.
const noKeyHeld = "\x00edged: no key held"

// maxJWKSBytes bounds a fetched JWK Set: a few dozen keys take a few KiB,
// and the body is decoded in memory.
const maxJWKSBytes = 1 << 20

// RemoteJWKS is a JSON Web Key Set (RFC 7517 §5) fetched over HTTP and
// kept fresh by github.com/MicahParks/jwkset:
//
//   - it is fetched once when the Verifier is made (a failure is logged and
//     the Verifier starts with no remote key, rather than failing: an
//     identity provider's outage must not stop the edge from starting; a
//     token arriving while no key is held refetches as an unknown kid does);
//   - it is fetched again every Refresh in the background; a successful
//     fetch replaces every key (so a removed key is revoked), a failed one
//     keeps the keys held;
//   - a token whose "kid" names no key held triggers a fetch at once (a key
//     rotated in before the next refresh), at most one per MinRefetch for
//     the whole set, so a flood of made-up kids costs the key server one
//     request per MinRefetch. A token that finds no refetch allowed is
//     refused as signed by an unknown key.
//
// Fetches dial the URL directly: never through a proxy from the
// environment nor through the edge's own routes, never following a
// redirect, within Timeout and with the body bounded to 1 MiB.
type RemoteJWKS struct {
	// URL is the key set's address: https, or http only to a loopback
	// host (keys fetched in clear over a network could be replaced on the
	// way, letting anyone mint tokens).
	URL string
	// Refresh is the interval of background fetches. Default
	// DefaultJWKSRefresh.
	Refresh time.Duration
	// MinRefetch is the least time between fetches caused by unknown
	// kids. Default DefaultJWKSMinRefetch.
	MinRefetch time.Duration
	// Timeout bounds each fetch, connection included. Default
	// DefaultJWKSTimeout.
	Timeout time.Duration
	// Logger receives fetch failures; nil discards them.
	Logger *slog.Logger
}

func (o RemoteJWKS) withDefaults() RemoteJWKS {
	o.Refresh = cmp.Or(o.Refresh, DefaultJWKSRefresh)
	o.MinRefetch = cmp.Or(o.MinRefetch, DefaultJWKSMinRefetch)
	o.Timeout = cmp.Or(o.Timeout, DefaultJWKSTimeout)
	return o
}

func (o RemoteJWKS) validate() error {
	var l fielderr.List
	if msg := jwksURLProblem(o.URL); msg != "" {
		l.Addf("URL", "%s", msg)
	}
	// Zero durations take their defaults.
	l.Check(o.Refresh >= 0, "Refresh", "must not be negative, got %v", o.Refresh)
	l.Check(o.MinRefetch >= 0, "MinRefetch", "must not be negative, got %v", o.MinRefetch)
	l.Check(o.Timeout >= 0, "Timeout", "must not be negative, got %v", o.Timeout)
	return l.Err()
}

// jwksURLProblem says what is wrong with a key set URL, "" if nothing.
func jwksURLProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "required"
	case err != nil:
		return fmt.Sprintf("not a URL: %v", err)
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Sprintf("%q is not an absolute http(s) URL", raw)
	case u.User != nil:
		return "must not carry credentials"
	case u.Scheme == "http" && !netaddr.IsLoopbackHost(u.Hostname()):
		return fmt.Sprintf("%q must use https: keys fetched in clear could be replaced in transit (http is allowed only to a loopback host)", raw)
	}
	return ""
}

// remoteKeys is a fetched key set and its refresh goroutine.
type remoteKeys struct {
	store     jwkset.Storage // refetches the set for a kid it lacks
	held      jwkset.Storage // the keys held, read without a fetch
	refetch   *rate.Limiter  // one refetch per MinRefetch
	cancel    context.CancelFunc
	transport *http.Transport
}

// newRemoteKeys fetches the set once and starts the background refresh;
// o is validated, with defaults.
func newRemoteKeys(o RemoteJWKS) (*remoteKeys, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := &http.Transport{
		Proxy:                  nil, // never a proxy from the environment
		DialContext:            (&net.Dialer{Timeout: o.Timeout}).DialContext,
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	client := &http.Client{
		Transport: boundedBody{tr},
		Timeout:   o.Timeout,
		// A redirect could lead anywhere, plain HTTP included: the 3xx
		// is a failed fetch.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithCancel(context.Background())
	mem := jwkset.NewMemoryStorage() // the keys held, counted by onError
	onError := func(_ context.Context, err error) {
		// The first fetch's failure comes before any key is held: the
		// log says what that means for the route rather than "keeping"
		// keys it does not have.
		if held, _ := mem.KeyReadAll(context.Background()); len(held) > 0 {
			log.Warn("JWK Set fetch failed; keeping the keys held", "url", o.URL, "keys", len(held), "err", err)
			return
		}
		log.Warn("JWK Set fetch failed; no key held yet: the route refuses tokens (401) until a fetch succeeds", "url", o.URL, "err", err)
	}
	httpStore, err := jwkset.NewStorageFromHTTP(o.URL, jwkset.HTTPClientStorageOptions{
		Storage:                   mem,
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               o.Timeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       onError,
		RefreshInterval:           o.Refresh,
	})
	if err == nil {
		var store jwkset.Storage
		store, err = jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
			HTTPURLs: map[string]jwkset.Storage{o.URL: httpStore},
			// keys asks store only for a refetch its own limiter
			// allowed. jwkset's limiter waits (up to RateLimitWaitMax,
			// which also bounds the refetch): with MinRefetch shorter
			// than Timeout, tokens with made-up kids queued for a
			// refetch each instead of being refused.
			RateLimitWaitMax:  o.Timeout,
			RefreshUnknownKID: rate.NewLimiter(rate.Inf, 1),
		})
		if err == nil {
			return &remoteKeys{store: store, held: httpStore, refetch: rate.NewLimiter(rate.Every(o.MinRefetch), 1),
				cancel: cancel, transport: tr}, nil
		}
	}
	cancel()
	return nil, optionErr("JWT.JWKS.URL", "%v", err)
}

// keys returns the held keys that may verify a token signed with alg and
// carrying kid; an unknown kid may cause a rate-limited refetch (see
// RemoteJWKS). Keys are chosen by type as for local keys (keysFor): a
// key set's say-so ("alg", "use") can narrow the choice, never widen it.
func (r *remoteKeys) keys(ctx context.Context, alg, kid string) []jwt.VerificationKey {
	var set []jwkset.JWK
	if kid != "" {
		k, err := r.held.KeyRead(ctx, kid)
		if err != nil {
			// An unknown kid (a rotated key) refetches the set, at most
			// once per MinRefetch; meanwhile such tokens are refused at
			// once, never queued.
			if !r.refetch.Allow() {
				return nil
			}
			if k, err = r.store.KeyRead(ctx, kid); err != nil {
				return nil
			}
		}
		set = []jwkset.JWK{k}
	} else if set, _ = r.held.KeyReadAll(ctx); len(set) == 0 && r.refetch.Allow() {
		// No key held (the provider was down at start): refetch as for
		// an unknown kid, so the same rate-limited refetch recovers
		// before the next refresh. No JWK has this kid.
		_, _ = r.store.KeyRead(ctx, noKeyHeld)
		set, _ = r.held.KeyReadAll(ctx)
	}
	var out []jwt.VerificationKey
	for _, j := range set {
		m := j.Marshal()
		// RFC 7517 §4.2: a key for encryption is not for signatures.
		if m.USE != "" && m.USE != jwkset.UseSig {
			continue
		}
		key := j.Key()
		if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
			key = pk.Public() // a set that leaks a private key still only verifies
		}
		if checkKey(key) != nil {
			continue
		}
		pk := publicKey{kid: m.KID, alg: m.ALG.String(), key: key}
		// RFC 7517 §4.4: a key's "alg" names the one algorithm it serves.
		if !contains(pk.algorithms(), alg) || (pk.alg != "" && pk.alg != alg) {
			continue
		}
		out = append(out, key)
	}
	return out
}

func (r *remoteKeys) close() {
	r.cancel()
	r.transport.CloseIdleConnections()
}

// boundedBody caps response bodies at maxJWKSBytes: the key set is decoded
// in memory, and a hostile or broken server could send without end.
type boundedBody struct{ rt http.RoundTripper }

func (b boundedBody) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = http.MaxBytesReader(nil, resp.Body, maxJWKSBytes)
	return resp, nil
}
