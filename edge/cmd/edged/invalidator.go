package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"edged/edge"
	"edged/edge/policy"
	"edged/purge"
	"edged/storage"
)

// storeInvalidator applies purge requests to the store. The purge package
// speaks absolute URLs and hostnames, storage speaks cache keys, and
// neither may import the other: this adapter normalizes URLs exactly as
// the edge builds keys (policy.ParseTarget), and storage purges each URL's
// key with every key derived from it (policy.Key).
//
// With sites, a URL is also mapped through the node's routes
// (edge.Router.PurgeTargets): its apply purges the keys the routes store a
// request for it under (cache.ignore_query, cache.keep_query), and a purge
// this node publishes carries the URLs its routes send their shields
// (Expand), which key what they store by them.
type storeInvalidator struct {
	store *storage.Store
	log   *slog.Logger // nil: skipped selectors are not logged
	// router returns the node's current routes (they change on reload);
	// nil, or a nil Router, maps nothing.
	router func() *edge.Router
}

var (
	_ purge.Invalidator = storeInvalidator{}
	_ purge.Checker     = storeInvalidator{}
	_ purge.Expander    = storeInvalidator{}
)

// routes is the current Router, nil without one.
func (si storeInvalidator) routes() *edge.Router {
	if si.router == nil {
		return nil
	}
	return si.router()
}

// Expand adds to r's URLs, for each, the URLs this node's routes store it
// under and those they send their shields (edge.Router.PurgeTargets), so
// that every node of the fleet purges them: a shield keys what it stores
// by the URL an edge's route sends it (strip_prefix, upstream_path, the
// kept query) and has no such route itself. Before, a purge of a public
// URL left the shield's copy, which the edge's next miss fetched again.
// It adds at most purge.MaxItems URLs (the bus publishes them in further
// events when they do not fit in the request's), none past
// purge.MaxItemLen.
func (si storeInvalidator) Expand(r purge.Request) purge.Request {
	rt := si.routes()
	if rt == nil || len(r.URLs) == 0 {
		return r
	}
	n := 0 // URLs added
	seen := make(map[string]bool, len(r.URLs))
	for _, raw := range r.URLs {
		seen[raw] = true
	}
	urls := slices.Clip(r.URLs)
	for _, raw := range r.URLs {
		t, err := targetOf(raw)
		if err != nil {
			continue // Check refused it already; Invalidate skips it
		}
		keyed, upstream := rt.PurgeTargets(t)
		for _, o := range slices.Concat(keyed, upstream) {
			u := o.Key()
			if seen[u] || n >= purge.MaxItems || len(u) > purge.MaxItemLen {
				continue
			}
			seen[u] = true
			urls = append(urls, u)
			n++
		}
	}
	r.URLs = urls
	return r
}

// Check refuses a request with a URL or prefix that is no cache key's
// spelling (policy.ParseTarget refuses it: a query that is not valid
// percent-encoding, a path that hides a dot segment), naming the selector,
// so that the purge API answers 400 and publishes nothing. purge.Validate
// lets such URLs through, and before this check they were published and
// failed every node's apply, which the bus retries forever: one bad URL held
// up every later purge on every node.
func (si storeInvalidator) Check(r purge.Request) error {
	_, skipped := storePurge(r, 0, nil)
	return errors.Join(skipped...)
}

// Invalidate purges r under sequence seq. A URL or prefix names one scheme,
// but the same object is usually served over both, so both schemes' keys
// are purged: a purge must never leave a copy behind. A URL or prefix Check
// refuses (in an event from an older node, or a raw publisher holding the
// key) is skipped and logged, the rest applied: no key is stored under a
// URL the edge refuses, and failing the event would stop the bus.
func (si storeInvalidator) Invalidate(ctx context.Context, r purge.Request, seq uint64) (int, error) {
	p, skipped := storePurge(r, seq, si.routes())
	if si.log != nil {
		for _, err := range skipped {
			si.log.Error("purge: selector skipped: it is no cache key", "seq", seq, "err", err)
		}
	}
	return si.store.Purge(p)
}

var _ purge.Hider = storeInvalidator{}

// Hide hides what r covers until unhide (storage.Store.Hide), for a purge
// announced ahead of its ordered apply. Selectors that do not convert hide
// nothing: their ordered apply reports them.
func (si storeInvalidator) Hide(r purge.Request) (unhide func()) {
	p, _ := storePurge(r, 0, si.routes())
	return si.store.Hide(p)
}

// storePurge converts r to the store's keys and prefixes, leaving out (and
// returning, each naming its selector) the URLs and prefixes that are not a
// cache key's spelling. Each URL's keys are those of the URL and, with rt,
// of the queries rt's routes key a request for it under.
func storePurge(r purge.Request, seq uint64, rt *edge.Router) (p storage.Purge, skipped []error) {
	p = storage.Purge{Tags: r.Tags, All: r.All, Soft: r.Soft, NoStale: r.StandIn, Seq: seq}
	for i, raw := range r.URLs {
		t, err := targetOf(raw)
		var keys []string
		if err == nil {
			keys, err = routedKeys(t, rt)
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("urls[%d] %q: %w", i, raw, err))
			continue
		}
		p.Keys = append(p.Keys, keys...)
	}
	for i, raw := range r.Prefixes {
		prefixes, err := bothSchemes(raw)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("prefixes[%d] %q: %w", i, raw, err))
			continue
		}
		p.Prefixes = append(p.Prefixes, prefixes...)
	}
	for _, host := range r.Hosts {
		p.Prefixes = append(p.Prefixes, policy.HostKeyPrefixes(host)...)
	}
	return p, skipped
}

// routedKeys returns the keys of t under both schemes and those of the
// queries rt's routes key a request for t under (edge.Router.PurgeTargets):
// every key a request for t may be served from.
func routedKeys(t policy.Target, rt *edge.Router) ([]string, error) {
	keys, err := t.SchemeKeys()
	if err != nil {
		return nil, err
	}
	keyed, _ := rt.PurgeTargets(t)
	for _, k := range keyed {
		if more, err := k.SchemeKeys(); err == nil {
			keys = append(keys, more...)
		}
	}
	return keys, nil
}

// Applied is the last purge sequence the store recorded.
func (si storeInvalidator) Applied() (uint64, error) { return si.store.AppliedSeq() }

// bothSchemes returns the cache keys of an absolute URL under http and
// https (policy.Target.SchemeKeys).
func bothSchemes(raw string) ([]string, error) {
	t, err := targetOf(raw)
	if err != nil {
		return nil, err
	}
	return t.SchemeKeys()
}

// targetOf is the normalized target of an absolute URL, as a request for
// it is keyed (policy.ParseTarget).
func targetOf(raw string) (policy.Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return policy.Target{}, err
	}
	return policy.ParseTarget(strings.ToLower(u.Scheme), u.Host, u)
}
