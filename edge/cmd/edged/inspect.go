package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"edged/edge"
	"edged/edge/config"
	"edged/edge/policy"
	"edged/storage"
)

// inspectLimit bounds the entries one /inspect answer lists per scheme.
const inspectLimit = 200

// inspectAnswer is the JSON of GET /inspect (docs/edgectl.md).
type inspectAnswer struct {
	URL     string         `json:"url"`
	Entries []inspectEntry `json:"entries"`
	// More is set when a key had more than inspectLimit entries.
	More bool `json:"more,omitempty"`
}

type inspectEntry struct {
	Key    string `json:"key"`
	Kind   string `json:"kind"` // object, vary-index, variant, encoding, split, route, auth-partition, slice
	Tier   string `json:"tier"` // memory, disk or memory+disk
	Status int    `json:"status"`
	Stale  bool   `json:"stale"`
	// PerUser marks a page stored for one user's request (Cookie or
	// Authorization) that did not say public or s-maxage
	// (storage.Entry.MustRevalidate): shared while fresh, never served
	// stale, as if it carried must-revalidate.
	PerUser   bool     `json:"per_user,omitempty"`
	Age       float64  `json:"age_seconds"`
	TTL       *float64 `json:"ttl_seconds,omitempty"` // freshness left; negative: stale for that long; none for a Vary index
	Stored    string   `json:"stored"`                // when the response was received (RFC 3339)
	BodyBytes int      `json:"body_bytes"`
	Vary      []string `json:"vary,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Type      string   `json:"content_type,omitempty"`
	Encoding  string   `json:"content_encoding,omitempty"`
	ETag      string   `json:"etag,omitempty"`
}

// inspectHandler serves GET /inspect?url=ABSOLUTE-URL: what the store holds
// for that URL under both schemes (a purge of a URL reaches both, and so
// does a look), every derivation included, without bodies and without
// changing the cache (storage.Store.Family), and under the keys the
// node's routes store a request for it (cache.ignore_query,
// cache.keep_query: edge.Router.PurgeTargets), as a purge of it reaches
// them: "/app.js?v=2" on a route that ignores the query is served what
// "/app.js" stored, and a look at it showed nothing. What a node caches
// says what its users fetched, so it takes the purge token, like /purge;
// without a purge token it is off.
func (n *node) inspectHandler() http.Handler {
	opts := n.cfg.PolicyOptions()
	// The dashboard's guard: the same token, the same answers without it.
	return adminGuard(purgeTokenOf(n.cfg))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.URL.Query().Get("url")
		keys, err := inspectKeys(raw, n.router())
		if err != nil {
			inspectError(w, http.StatusBadRequest, err.Error())
			return
		}
		ans := inspectAnswer{URL: raw, Entries: []inspectEntry{}}
		now := time.Now()
		for _, k := range keys {
			held, more, err := n.store.Family(k, inspectLimit)
			if err != nil {
				inspectError(w, http.StatusServiceUnavailable, err.Error())
				return
			}
			ans.More = ans.More || more
			for _, h := range held {
				ans.Entries = append(ans.Entries, describeHeld(k, h, now, opts))
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	}))
}

// inspectKeys turns an absolute URL into its primary keys, normalized as
// the handler normalizes a request (policy.ParseTarget), and the keys rt's
// routes store a request for it under (routedKeys, as a purge of it).
func inspectKeys(raw string, rt *edge.Router) ([]string, error) {
	if raw == "" {
		return nil, errors.New("missing url parameter: /inspect?url=http://host/path")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("url %q: want an absolute http(s) URL", raw)
	}
	t, err := policy.ParseUnroutedTarget(u.Scheme, u.Host, u) // as a purge reads it (targetOf)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	keys, err := routedKeys(t, rt)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	return keys, nil
}

func describeHeld(primary string, h storage.Held, now time.Time, opts policy.Options) inspectEntry {
	e := h.Entry
	resp := policy.Response{Status: e.Status, Header: e.Header, RequestTime: e.RequestTime, ResponseTime: e.ResponseTime, Purged: e.Stale, PurgedAt: e.StaleAt}
	age := policy.Age(resp, now)
	life, _ := policy.Lifetime(resp, opts)
	ttl := life - age
	if e.Stale && ttl > 0 {
		ttl = 0 // a purge made it stale whatever its lifetime says
	}
	out := inspectEntry{
		Key: e.Key, Kind: keyKind(primary, e), Status: e.Status, Stale: e.Stale, PerUser: e.MustRevalidate,
		Age: age.Seconds(), BodyBytes: h.BodyLen, Vary: e.Vary, Tags: e.Tags,
		Type: e.Header.Get("Content-Type"), Encoding: e.Header.Get("Content-Encoding"), ETag: e.Header.Get("ETag"),
	}
	// A Vary index has no TTL: its stored header is its Vary alone, so its
	// lifetime is 0 and a TTL would call it stale from its first second,
	// while the handler reads it whatever its age.
	if e.Vary == nil {
		secs := ttl.Seconds()
		out.TTL = &secs
	}
	if !e.ResponseTime.IsZero() {
		out.Stored = e.ResponseTime.UTC().Format(time.RFC3339)
	}
	switch {
	case h.Memory && h.Disk:
		out.Tier = "memory+disk"
	case h.Memory:
		out.Tier = "memory"
	default:
		out.Tier = "disk"
	}
	return out
}

// keyKind names what a key holds from its last derivation, read with the
// key grammar's own parser (policy.Key.Parse): the primary key holds the
// object or, when it names Vary, the index of its variants.
func keyKind(primary string, e *storage.Entry) string {
	if e.Vary != nil {
		return "vary-index"
	}
	_, derivations := policy.Key(e.Key).Parse()
	if e.Key == primary || len(derivations) == 0 {
		return "object"
	}
	switch kind := derivations[len(derivations)-1].Kind; kind {
	case "auth":
		return "auth-partition"
	default:
		return kind // variant, encoding, split, route, slice
	}
}

func inspectError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// purgeTokenOf is the purge API's bearer token: purge.token, else
// EDGED_PURGE_TOKEN.
func purgeTokenOf(cfg *config.Config) string {
	if cfg.Purge.Token != "" {
		return cfg.Purge.Token
	}
	return os.Getenv("EDGED_PURGE_TOKEN")
}
