package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"edged/edge/policy"
	"edged/purge"
	"edged/storage"
)

// storeInvalidator applies purge requests to the store. The purge package
// speaks absolute URLs and hostnames, storage speaks cache keys, and
// neither may import the other: this adapter normalizes URLs exactly as
// the edge builds keys (policy.ParseTarget), and storage purges each URL's
// key with every key derived from it (policy.Key).
type storeInvalidator struct{ store *storage.Store }

var _ purge.Invalidator = storeInvalidator{}

// Invalidate purges r under sequence seq. A URL or prefix names one scheme,
// but the same object is usually served over both, so both schemes' keys
// are purged: a purge must never leave a copy behind.
func (si storeInvalidator) Invalidate(ctx context.Context, r purge.Request, seq uint64) (int, error) {
	p, err := storePurge(r, seq)
	if err != nil {
		return 0, err
	}
	return si.store.Purge(p)
}

var _ purge.Hider = storeInvalidator{}

// Hide hides what r covers until unhide (storage.Store.Hide), for a purge
// announced ahead of its ordered apply. A request that does not convert
// hides nothing: its ordered apply reports the error.
func (si storeInvalidator) Hide(r purge.Request) (unhide func()) {
	p, err := storePurge(r, 0)
	if err != nil {
		return func() {}
	}
	return si.store.Hide(p)
}

// storePurge converts r to the store's keys and prefixes.
func storePurge(r purge.Request, seq uint64) (storage.Purge, error) {
	p := storage.Purge{Tags: r.Tags, All: r.All, Soft: r.Soft, NoStale: r.StandIn, Seq: seq}
	for _, raw := range r.URLs {
		keys, err := bothSchemes(raw)
		if err != nil {
			return storage.Purge{}, fmt.Errorf("purge url %q: %w", raw, err)
		}
		p.Keys = append(p.Keys, keys...)
	}
	for _, raw := range r.Prefixes {
		prefixes, err := bothSchemes(raw)
		if err != nil {
			return storage.Purge{}, fmt.Errorf("purge prefix %q: %w", raw, err)
		}
		p.Prefixes = append(p.Prefixes, prefixes...)
	}
	for _, host := range r.Hosts {
		p.Prefixes = append(p.Prefixes, policy.HostKeyPrefixes(host)...)
	}
	return p, nil
}

// Applied is the last purge sequence the store recorded.
func (si storeInvalidator) Applied() (uint64, error) { return si.store.AppliedSeq() }

// bothSchemes returns the cache keys of an absolute URL under http and
// https (policy.Target.SchemeKeys).
func bothSchemes(raw string) ([]string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	t, err := policy.ParseTarget(strings.ToLower(u.Scheme), u.Host, u)
	if err != nil {
		return nil, err
	}
	return t.SchemeKeys()
}
