package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Key is a cache key, and this file is the one place its grammar lives.
//
// A primary key is a normalized request target (Target.Key):
//
//	primary = scheme "://" host [ ":" port ] path [ "?" query ]
//
// Everything else the cache stores or partitions by is derived from a
// primary key, and the rule for every derivation is the same:
//
//	derived = primary 1*( KeySep suffix )
//
// that is, the primary key, then "\x00", then a suffix that starts with a
// tag naming the derivation. Derivations chain (a conditional route, then a
// route split, then an auth
// partition, then a Vary variant of that, then its compressed encoding),
// and every link adds KeySep + suffix, so every derived key starts with
// primary + "\x00". The store purges a key together with every key that
// starts with key + "\x00" (storage.Purge.Keys): a purge of a URL reaches
// every derivation of it, and since NUL never appears in a primary key
// (ParseTarget refuses it), never the key of another URL ("k" purges
// "k\x00…", never "k2"). A prefix purge reaches them too, because a derived
// key starts with its primary key.
//
// The suffixes, in the order they chain:
//
//	"~route;" id              a route chosen by request conditions: Route
//	"~" name                  route split (a canary): Split
//	"~pool;" name             the pool an edge named to its shield: Pool
//	"~auth:" values           the claims an authenticated route keys on: AuthPartition
//	field ":" … "\n" …        a Vary variant, led by the first varied field name: Variant
//	"ce=" coding              a stored compressed representation: Encoding
//	"~slice;" index           one fixed-size slice of a large object: Slice
//	"authorization\x00" cred  flight only, never stored: Flight
//	"identity\x00" subject    flight only, never stored: Flight
//
// No two derivations can spell the same key: a variant's suffix is empty or
// ends in "\n", which no split name (a cookie value, RFC 6265 §4.1.1), no
// route id (hex digits) and no auth partition (quoted values, each ending in
// ";") holds; a split name, a cookie value, never holds the ";" of "~route;"
// or "~pool;" (RFC 6265 §4.1.1 cookie-octet excludes it), nor does a pool
// name, a token (RFC 9110 §5.6.2), hold "\n"; and a field
// name, a token, never holds the "=" of "ce="; request field values, which
// variants embed, never hold NUL (RFC 9110 §5.5).
//
// The bytes are stored on disk: changing any of them orphans every entry an
// existing cache file holds (key_test.go pins them).
type Key string

// KeySep begins every derivation's suffix. It is NUL, the smallest byte, so
// in an ordered store a key's derivations directly follow it.
const KeySep = "\x00"

// The tags that start each derivation's suffix (after KeySep).
const (
	tagRoute         = "~route;"
	tagSplit         = "~"
	tagPool          = "~pool;"
	tagAuth          = "~auth:"
	tagEncoding      = "ce="
	tagSlice         = "~slice;"
	tagAuthorization = "authorization\x00"
	tagIdentity      = "identity\x00"
)

// Family is the prefix every key derived from k starts with: k + KeySep.
// Deleting k and every key with this prefix removes all of k's derivations.
func (k Key) Family() string { return string(k) + KeySep }

// Derives reports whether other is k or a key derived from it.
func (k Key) Derives(other string) bool {
	rest, ok := strings.CutPrefix(other, string(k))
	return ok && (rest == "" || strings.HasPrefix(rest, KeySep))
}

// Route is the key of what a route chosen by request conditions (header,
// cookie or query values) fetched for k: the same URL may be served by
// another route, with other answers, for a request without them. id names
// the route (RouteID).
func (k Key) Route(id string) Key { return k.derive(tagRoute, id) }

// RouteID is the id of a conditional route for Route: hex digits of a
// hash of what tells the route apart (its path prefix and conditions, in a
// canonical spelling), so that the id stays the same across restarts and
// reordered configurations and changes when the conditions do.
func RouteID(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return hex.EncodeToString(sum[:8])
}

// AppendRoute appends the suffix of Route to a key in b.
func AppendRoute(b []byte, id string) []byte { return appendDerived(b, tagRoute, id) }

// Split is the key of a route split (a canary): its answers may differ from
// the primary's, so they are kept apart, under the URL's key so that URL and
// prefix purges reach them.
func (k Key) Split(name string) Key { return k.derive(tagSplit, name) }

// Pool is the key of what a shield fetched for k from the pool an edge
// named (origin.PoolHeader): two edge routes to different pools may send
// the shield the same URL (strip_prefix, upstream_path), and one pool's
// object must never answer for another's. Under the URL's key, so that URL
// and prefix purges reach it.
func (k Key) Pool(name string) Key { return k.derive(tagPool, name) }

// AppendPool appends the suffix of Pool to a key in b.
func AppendPool(b []byte, name string) []byte { return appendDerived(b, tagPool, name) }

// AuthPartition is the key under which an authenticated route keeps what it
// fetched for the claim values it declares (a tenant, a plan...).
func (k Key) AuthPartition(values string) Key { return k.derive(tagAuth, values) }

// Encoding is the key of the representation of k's response compressed with
// coding (a content-coding name, RFC 9110 §8.4.1), stored beside it.
func (k Key) Encoding(coding string) Key { return k.derive(tagEncoding, coding) }

// Slice is the key of slice index (0, 1, ...) of k's object, stored on a
// route that keeps large objects in fixed-size slices: every slice lives
// under the object's key, so a purge of the URL, its prefix, its host or
// its tags (each slice carries the object's) removes them all together.
func (k Key) Slice(index int64) Key { return k.derive(tagSlice, strconv.FormatInt(index, 10)) }

// SliceFamily is the prefix every slice key of k starts with.
func (k Key) SliceFamily() string { return string(k) + KeySep + tagSlice }

// Flight partitions collapsed fetches by credentials: a response fetched
// with one client's Authorization (or for one authenticated identity) must
// not be handed to another client before it is known that it may be shared
// (RFC 9111 §3.5). Empty values add nothing. Flight keys are never stored.
func (k Key) Flight(authorization, identity string) Key {
	if authorization != "" {
		k = k.derive(tagAuthorization, authorization)
	}
	if identity != "" {
		k = k.derive(tagIdentity, identity)
	}
	return k
}

func (k Key) derive(tag, value string) Key {
	return k + KeySep + Key(tag) + Key(value)
}

// AppendSplit appends the suffix of Split to a key in b, for callers that
// build keys in a buffer of their own.
func AppendSplit(b []byte, name string) []byte { return appendDerived(b, tagSplit, name) }

// AppendAuthPartition appends the suffix of AuthPartition to a key in b.
func AppendAuthPartition(b []byte, values string) []byte { return appendDerived(b, tagAuth, values) }

// AppendEncoding appends the suffix of Encoding to a key in b: a hit looks
// up the compressed representation without making a string of its key.
func AppendEncoding(b []byte, coding string) []byte { return appendDerived(b, tagEncoding, coding) }

func appendDerived(b []byte, tag, value string) []byte {
	return append(append(append(b, KeySep...), tag...), value...)
}

// Variant is the key of the variant of k's response that req selects: k +
// "\x00" followed by, for each name, the name and the normalized value of
// that request field: field lines combined and list elements stripped of
// surrounding whitespace and empty elements (RFC 9111 §4.1, RFC 9110 §5.3,
// §5.6.1); Accept-Language is normalized further, to the extent its
// specification makes values equivalent (appendLanguages); Cookie, not a
// list, has its lines joined with "; " (appendCookie). An absent field
// and an empty one encode differently. Values are length-prefixed so no
// value can forge another field's encoding. names must come from ParseVary
// (sorted); the suffix is led by the first name, a token.
func (k Key) Variant(names []string, req http.Header) Key {
	if len(names) == 0 {
		return k + KeySep
	}
	b := make([]byte, 0, len(k)+1+32*len(names))
	b = append(b, k...)
	b = append(b, KeySep...)
	var tmp []byte
	for _, name := range names {
		b = append(b, name...)
		lines, ok := req[name]
		if !ok {
			b = append(b, ":-\n"...) // absent
			continue
		}
		tag := ":+"
		switch name {
		case "Accept-Language":
			// A normalized Accept-Language is tagged apart (":=") so that
			// no value matched as sent can equal it.
			if norm, ok := appendLanguages(tmp[:0], lines); ok {
				tmp, tag = norm, ":="
			}
		case "Cookie":
			// Not a comma list: its lines combine with "; " (appendCookie).
			tmp, tag = appendCookie(tmp[:0], lines), ":="
		}
		if tag == ":+" {
			tmp = normalizeFieldValue(tmp[:0], lines)
		}
		b = append(b, tag...)
		b = strconv.AppendInt(b, int64(len(tmp)), 10)
		b = append(b, ':')
		b = append(b, tmp...)
		b = append(b, '\n')
	}
	return Key(b)
}

// appendCookie appends the combined value of Cookie lines: each line
// stripped of surrounding whitespace, empty ones dropped, joined with "; ",
// as a server reads several lines (RFC 6265 §5.4 sends one; RFC 9113
// §8.2.3 splits it into lines an HTTP/2 server joins with "; "). Cookie is
// not a comma list, so a comma is part of a value: "a=1,b=2" is one cookie,
// and keys apart from "a=1" and "b=2" on two lines, which are "a=1; b=2".
func appendCookie(dst []byte, lines []string) []byte {
	first := true
	for _, line := range lines {
		line = strings.Trim(line, " \t")
		if line == "" {
			continue
		}
		if !first {
			dst = append(dst, "; "...)
		}
		first = false
		dst = append(dst, line...)
	}
	return dst
}

// SchemeKeys returns t's key under http and under https. A URL names one
// scheme, but the same object is usually served over both, so a purge of a
// URL purges both keys. The other scheme's key is what a request for the
// same host and port under that scheme is stored as: t.Host, normalized
// for t.Scheme, keeps a port only when it is not t.Scheme's default, and
// that port is dropped in turn when it is the other scheme's (RFC 3986
// §6.2.3): http://h:443/x is also https://h/x, https://h:80/x also
// http://h/x, never a key with a default port that no request has.
func (t Target) SchemeKeys() ([]string, error) {
	if t.Scheme != "http" && t.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q is not http or https", ErrBadTarget, t.Scheme)
	}
	keys := make([]string, 0, 2)
	host := t.Host
	for _, scheme := range [...]string{"http", "https"} {
		h, err := normalizeHost(scheme, host)
		if err != nil {
			return nil, err
		}
		t.Scheme, t.Host = scheme, h
		keys = append(keys, t.Key())
	}
	return keys, nil
}

// HostKeyPrefixes are the key prefixes of everything stored for host: both
// schemes, with and without a port unless host names one (an IP literal
// "[::1]" names none). host is normalized as ParseTarget normalizes a
// request's Host (lower-cased, no trailing dot, the port in plain decimal),
// so a port that is its scheme's default names the keys without a port, as
// the edge stores them: "example.com:80" is http://example.com/ (and
// https://example.com:80/), never a prefix no key has.
func HostKeyPrefixes(host string) []string {
	named := strings.Contains(host, ":")
	if strings.HasPrefix(host, "[") {
		_, after, _ := strings.Cut(host, "]")
		named = strings.Contains(after, ":")
	}
	prefixes := make([]string, 0, 4)
	for _, scheme := range []string{"http", "https"} {
		h, err := normalizeHost(scheme, host)
		if err != nil { // not a host ParseTarget takes: no key names it; as written
			h = strings.TrimSuffix(strings.ToLower(host), ".")
		}
		prefixes = append(prefixes, scheme+"://"+h+"/")
		if !named {
			prefixes = append(prefixes, scheme+"://"+h+":")
		}
	}
	return prefixes
}

// Derivation is one link of a derived key, as Parse finds it.
type Derivation struct {
	// Kind is "route", "split", "pool", "auth", "variant", "encoding", "slice", "authorization" or
	// "identity" (the last two only in flight keys).
	Kind string
	// Suffix is the link as stored after KeySep: its tag and its value.
	Suffix string
}

// Parse splits k into its primary key and its derivations, in the order
// they were applied: the inverse of the methods above, for tools that show
// operators what a node holds. The kinds are told apart as the Key doc
// says they can be: a variant's suffix is empty or ends in "\n".
func (k Key) Parse() (primary Key, derivations []Derivation) {
	p, rest, found := strings.Cut(string(k), KeySep)
	if !found {
		return k, nil
	}
	parts := strings.Split(rest, KeySep)
	for i := 0; i < len(parts); i++ {
		s := parts[i]
		kind := "variant"
		switch {
		case s == "" || strings.HasSuffix(s, "\n"):
		case strings.HasPrefix(s, tagAuth):
			kind = "auth"
		case strings.HasPrefix(s, tagRoute):
			kind = "route"
		case strings.HasPrefix(s, tagSlice):
			kind = "slice"
		case strings.HasPrefix(s, tagPool):
			kind = "pool"
		case strings.HasPrefix(s, tagSplit):
			kind = "split"
		case strings.HasPrefix(s, tagEncoding):
			kind = "encoding"
		case s+KeySep == tagAuthorization || s+KeySep == tagIdentity:
			// A flight tag holds KeySep: its value is the next part.
			kind = strings.TrimSuffix(s, KeySep)
			if i+1 < len(parts) {
				i++
				s += KeySep + parts[i]
			}
		}
		derivations = append(derivations, Derivation{Kind: kind, Suffix: s})
	}
	return Key(p), derivations
}
