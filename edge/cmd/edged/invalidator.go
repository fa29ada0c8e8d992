package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
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
// With sites, URLs and prefixes are also mapped through the node's routes
// (edge.Router.PurgeTargets, PrefixPurgeTargets): its apply purges the keys
// the routes store a request for them under (cache.ignore_query,
// cache.keep_query), and a purge this node publishes carries those and
// what the routes send their shields (Expand), which key what they store
// by them.
type storeInvalidator struct {
	store *storage.Store
	log   *slog.Logger // nil: skipped selectors are not logged
	// router returns the node's current routes (they change on reload);
	// nil, or a nil Router, maps nothing.
	router func() *edge.Router
	// shield is set on a shield: it knows no edge's routes, so a purge
	// sent to it is answered with a warning (Expand).
	shield bool
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

// shieldWarning answers a URL or prefix purge sent to a shield.
const shieldWarning = "this node is a shield and knows no edge's routes: the URLs and prefixes are purged as given, " +
	"not under the paths an edge's route sends its shields (strip_prefix, upstream_path, a query rule), " +
	"whose copies stay here and refill the edges; send purges to an edge"

// Expand returns, for each URL and prefix of r, what this node's routes
// store it under and send their shields (edge.Router.PurgeTargets,
// PrefixPurgeTargets), so that every node of the fleet purges them: a
// shield keys what it stores by the URL an edge's route sends it
// (strip_prefix, upstream_path, the kept query) and has no such route
// itself. Before, a purge of a public URL left the shield's copy, which
// the edge's next miss fetched again. Every target is added (at most two
// per route of the URL's site, so the caller's MaxItems bound it); the
// bus publishes them in further events when they do not fit in one. A
// URL longer than purge.MaxItemLen is added as the prefix of its first
// MaxItemLen bytes, which covers it; the bus leaves out, and names in its
// answer, anything that is still no valid purge item. On a shield, which
// knows no edge's routes, a purge of URLs or prefixes is answered with a
// warning.
func (si storeInvalidator) Expand(r purge.Request) (more purge.Request, warning string) {
	if si.shield && len(r.URLs)+len(r.Prefixes) > 0 {
		warning = shieldWarning
	}
	rt := si.routes()
	if rt == nil {
		return more, warning
	}
	add := func(ts []policy.Target, prefixes bool) {
		for _, t := range ts {
			u, ok := keyOf(t)
			if !ok {
				continue // a request for it is refused: nothing stored
			}
			prefix := prefixes
			if len(u) > purge.MaxItemLen {
				if c, ok := coverPrefix(u); ok {
					u, prefix = c, true
				}
			}
			if prefix {
				more.Prefixes = append(more.Prefixes, u)
			} else {
				more.URLs = append(more.URLs, u)
			}
		}
	}
	for _, raw := range r.URLs {
		if t, err := targetOf(raw); err == nil { // else Check refused it already
			add(rt.PurgeTargets(t, true), false)
		}
	}
	for _, raw := range r.Prefixes {
		if p, err := targetOf(raw); err == nil {
			urls, prefixes := rt.PrefixPurgeTargets(p, true)
			add(urls, false)
			add(prefixes, true)
		}
	}
	return more, warning
}

// keyOf is t's key as a node keys a request for it: a route's
// upstream_path is no normalized path.
func keyOf(t policy.Target) (string, bool) {
	n, err := targetOf(t.Key())
	if err != nil {
		return "", false
	}
	return n.Key(), true
}

// coverPrefix is the longest prefix of the key u within
// purge.MaxItemLen that is a key prefix of u's: a purge of it reaches u.
func coverPrefix(u string) (string, bool) {
	c := u[:purge.MaxItemLen]
	if i := strings.LastIndexByte(c[len(c)-2:], '%'); i >= 0 {
		c = c[:len(c)-2+i] // no percent-encoding cut in two
	}
	t, err := targetOf(c)
	if err != nil {
		return "", false
	}
	k := t.Key()
	return k, strings.HasPrefix(u, k)
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
	return si.InvalidateInStream(ctx, r, seq, "")
}

var _ purge.StreamRecorder = storeInvalidator{}

// InvalidateInStream is Invalidate recording stream, when not empty, with
// seq (storage.Purge.Stream).
func (si storeInvalidator) InvalidateInStream(ctx context.Context, r purge.Request, seq uint64, stream string) (int, error) {
	p, skipped := storePurge(r, seq, si.routes())
	p.Stream = stream
	if si.log != nil {
		for _, err := range skipped {
			si.log.Error("purge: selector skipped: it is no cache key", "seq", seq, "err", err)
		}
	}
	return si.store.Purge(p)
}

// AppliedStream is the stream the store recorded with its applied sequence.
func (si storeInvalidator) AppliedStream() (string, error) { return si.store.AppliedStream() }

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
// of the queries rt's routes key a request for it under; each prefix's,
// those of the prefix and, with rt, what rt's query rules store its
// requests under (edge.Router.PrefixPurgeTargets).
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
		t, err := targetOf(raw)
		var prefixes []string
		if err == nil {
			prefixes, err = t.SchemeKeys()
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("prefixes[%d] %q: %w", i, raw, err))
			continue
		}
		p.Prefixes = append(p.Prefixes, prefixes...)
		urls, more := rt.PrefixPurgeTargets(t, false)
		p.Keys = appendSchemeKeys(p.Keys, urls)
		p.Prefixes = appendSchemeKeys(p.Prefixes, more)
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
	return appendSchemeKeys(keys, rt.PurgeTargets(t, false)), nil
}

// appendSchemeKeys appends the keys of each of ts under both schemes.
func appendSchemeKeys(keys []string, ts []policy.Target) []string {
	for _, t := range ts {
		if more, err := t.SchemeKeys(); err == nil {
			keys = append(keys, more...)
		}
	}
	return keys
}

// Applied is the last purge sequence the store recorded.
func (si storeInvalidator) Applied() (uint64, error) { return si.store.AppliedSeq() }

// targetOf is the normalized target of an absolute URL, as a request for
// it is keyed. A path with a percent-encoded control character is taken
// (policy.ParseUnroutedTarget): a forward proxy, or a cache without sites,
// stores such a URL, and its purge must reach it; on a node with sites,
// where a request for it is refused, it names a key nothing stores.
func targetOf(raw string) (policy.Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return policy.Target{}, err
	}
	return policy.ParseUnroutedTarget(strings.ToLower(u.Scheme), u.Host, u)
}
