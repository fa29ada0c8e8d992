package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/http"
	"slices"
	"time"
)

// Encoding, versions 1 to 3. All integers are (u)varints unless noted.
//
//	version   byte (1; 2 for a stale entry with a StaleAt; 3 for one
//	          with MustRevalidate)
//	flags     byte (flag* bits below; unknown bits are corruption)
//	ext       byte (version 3 only: ext* bits below, extMustRevalidate
//	          always set; unknown bits are corruption)
//	status    varint
//	reqTime   varint Unix nanoseconds   (only if flagReqTime)
//	respTime  varint Unix nanoseconds   (only if flagRespTime)
//	staleAt   varint Unix nanoseconds   (version 2, or 3 with extStaleAt;
//	                                     either requires flagStale)
//	bodyLen   uvarint
//	key       string
//	header    count, then per name in sorted order: name, count, values (only if flagHeader)
//	vary      count, strings (only if flagVary)
//	tags      count, strings (only if flagTags)
//	body      bodyLen bytes (flagFile: the body file's id u64, size u64
//	          and CRC-32C u32, big-endian; see bodyfile.go)
//	checksum  4 bytes big-endian CRC-32C (Castagnoli) of everything before it
//
// A string is a uvarint length followed by its bytes. The strings region
// (key through tags) sits between the fixed fields and the body, so Decode can
// copy it into one string and hand out substrings of it.
//
// Version 2 only adds staleAt; every other entry is still written as
// version 1, so a node rolled back to a version-1 reader keeps all but the
// soft-purged entries. Version 3 adds the ext byte, whose flags no longer
// fit in the flags byte (all eight bits are taken); it is written only for
// an entry with MustRevalidate, which a reader older than it sees as
// damage: dropped and refetched, never served without its mark.
const (
	codecVersion        = 1
	codecVersionStaleAt = 2
	codecVersionExt     = 3
)

// Bits of the ext byte (version 3).
const (
	// extStaleAt: staleAt follows (version 2's meaning).
	extStaleAt = 1 << iota
	// extMustRevalidate: Entry.MustRevalidate. Always set in version 3,
	// so that each entry has one encoding.
	extMustRevalidate
	extKnown = extStaleAt | extMustRevalidate
)

const (
	flagStale = 1 << iota
	flagHeader
	flagVary
	flagTags
	flagBody
	flagReqTime
	flagRespTime
	// flagFile: the body is in a file of its own (bodyfile.go); the body
	// region is its reference (id, size, CRC-32C), 20 bytes. Readers older
	// than body files see an unknown flag: damage, dropped and refetched.
	flagFile
	flagsKnown = flagStale | flagHeader | flagVary | flagTags | flagBody | flagReqTime | flagRespTime | flagFile
)

const checksumLen = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns the versioned binary encoding of e, checksummed over every
// byte. It is deterministic: equal entries encode to equal bytes (header names
// are written in sorted order). nil and empty Header, Body, Vary and Tags are
// distinguished; a header name with no values decodes with nil values.
func Encode(e *Entry) []byte {
	return appendEncoded(make([]byte, 0, encodedSize(e)), e)
}

// appendEncoded appends Encode(e) to dst; the checksum covers only what it
// appends.
func appendEncoded(dst []byte, e *Entry) []byte {
	var room [24]string // most headers: no allocation for the sorted names
	names := room[:0]
	for k := range e.Header {
		names = append(names, k)
	}
	slices.Sort(names)

	start := len(dst)
	b := dst
	flags := entryFlags(e)
	staleAt := e.Stale && !e.StaleAt.IsZero()
	switch {
	case e.MustRevalidate:
		ext := byte(extMustRevalidate)
		if staleAt {
			ext |= extStaleAt
		}
		b = append(b, codecVersionExt, flags, ext)
	case staleAt:
		b = append(b, codecVersionStaleAt, flags)
	default:
		b = append(b, codecVersion, flags)
	}
	b = binary.AppendVarint(b, int64(e.Status))
	if flags&flagReqTime != 0 {
		b = binary.AppendVarint(b, e.RequestTime.UnixNano())
	}
	if flags&flagRespTime != 0 {
		b = binary.AppendVarint(b, e.ResponseTime.UnixNano())
	}
	if staleAt {
		b = binary.AppendVarint(b, e.StaleAt.UnixNano())
	}
	if e.file != nil {
		b = binary.AppendUvarint(b, fileRefLen)
	} else {
		b = binary.AppendUvarint(b, uint64(len(e.Body)))
	}
	b = appendString(b, e.Key)
	if e.Header != nil {
		b = binary.AppendUvarint(b, uint64(len(names)))
		for _, k := range names {
			b = appendString(b, k)
			b = appendStrings(b, e.Header[k])
		}
	}
	if e.Vary != nil {
		b = appendStrings(b, e.Vary)
	}
	if e.Tags != nil {
		b = appendStrings(b, e.Tags)
	}
	if e.file != nil {
		b = appendRef(b, e.file)
	} else {
		b = append(b, e.Body...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

func entryFlags(e *Entry) byte {
	var f byte
	if e.Stale {
		f |= flagStale
	}
	if e.Header != nil {
		f |= flagHeader
	}
	if e.Vary != nil {
		f |= flagVary
	}
	if e.Tags != nil {
		f |= flagTags
	}
	switch {
	case e.file != nil:
		f |= flagFile
	case e.Body != nil:
		f |= flagBody
	}
	if !e.RequestTime.IsZero() {
		f |= flagReqTime
	}
	if !e.ResponseTime.IsZero() {
		f |= flagRespTime
	}
	return f
}

// encodedSize is an upper bound of len(Encode(e)), so Encode allocates once.
func encodedSize(e *Entry) int {
	n := 3 + 4*binary.MaxVarintLen64 + 5*binary.MaxVarintLen64 + len(e.Key) + len(e.Body) + checksumLen
	for k, vs := range e.Header {
		n += 2*binary.MaxVarintLen64 + len(k)
		for _, v := range vs {
			n += binary.MaxVarintLen64 + len(v)
		}
	}
	for _, s := range e.Vary {
		n += binary.MaxVarintLen64 + len(s)
	}
	for _, s := range e.Tags {
		n += binary.MaxVarintLen64 + len(s)
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// Decode parses an encoding made by Encode. Any damage (truncation, flipped
// bits, unknown version or flags, impossible lengths, trailing bytes) yields
// an error wrapping ErrCorrupt. Decode never panics, allocates memory
// proportional to len(b) at most, and the returned Entry shares no memory
// with b (b may be a bbolt page that is unmapped later).
func Decode(b []byte) (*Entry, error) {
	if len(b) < 2+checksumLen {
		return nil, corruptf("%d bytes is too short", len(b))
	}
	payload := b[:len(b)-checksumLen]
	if want, got := binary.BigEndian.Uint32(b[len(payload):]), crc32.Checksum(payload, castagnoli); want != got {
		return nil, corruptf("checksum %08x, want %08x", got, want)
	}
	e, flags, off, bodyLen, err := decodeFixed(payload)
	if err != nil {
		return nil, err
	}
	bodyStart := len(payload) - int(bodyLen)
	if err := decodeStrings(e, flags, payload[off:bodyStart]); err != nil {
		return nil, err
	}
	switch {
	case flags&flagFile != 0:
		if flags&flagBody != 0 {
			return nil, corruptf("both a body and a body file")
		}
		ref, err := parseRef(payload[bodyStart:], e.Key)
		if err != nil {
			return nil, err
		}
		e.file = ref
	case flags&flagBody != 0:
		// In this form (make, then copy from a variable) the compiler
		// does not zero memory that is overwritten at once: a disk hit's
		// body may be megabytes.
		src := payload[bodyStart:]
		body := make([]byte, len(src))
		copy(body, src)
		e.Body = body
	case bodyLen != 0:
		return nil, corruptf("nil body with length %d", bodyLen)
	}
	return e, nil
}

// decodeFixed parses the fields of payload (an encoding without its
// checksum) before the strings region: version, flags and ext, then
// status, times and stale mark into a new Entry. off is where the strings
// region begins and bodyLen the length of the body region that ends
// payload (checked to fit).
func decodeFixed(payload []byte) (e *Entry, flags byte, off int, bodyLen uint64, err error) {
	if len(payload) < 2 {
		return nil, 0, 0, 0, corruptf("%d bytes is too short", len(payload))
	}
	version := payload[0]
	flags = payload[1]
	if flags&^flagsKnown != 0 {
		return nil, 0, 0, 0, corruptf("unknown flags %#x", flags)
	}
	r := reader{b: payload, off: 2}
	var ext byte
	switch version {
	case codecVersion:
	case codecVersionStaleAt:
		ext = extStaleAt
	case codecVersionExt:
		if len(payload) < 3 {
			return nil, 0, 0, 0, corruptf("version %d without its ext byte", version)
		}
		ext, r.off = payload[2], 3
		if ext&^extKnown != 0 || ext&extMustRevalidate == 0 {
			return nil, 0, 0, 0, corruptf("ext flags %#x", ext)
		}
	default:
		return nil, 0, 0, 0, corruptf("unknown version %d", version)
	}
	if ext&extStaleAt != 0 && flags&flagStale == 0 {
		return nil, 0, 0, 0, corruptf("a stale time without the stale flag")
	}
	e, bodyLen = r.fixed(flags, ext)
	if r.err == nil && bodyLen > uint64(len(payload)-r.off) {
		r.fail("body length %d exceeds the %d bytes left", bodyLen, len(payload)-r.off)
	}
	if r.err != nil {
		return nil, 0, 0, 0, r.err
	}
	return e, flags, r.off, bodyLen, nil
}

// decodeHead is Decode of only what tells one stored response from
// another, for a record found under key: the fixed fields (decodeFixed)
// and the key, which must be key. It verifies no checksum and reads
// neither the other strings nor the body, so its cost does not grow with
// them; a damaged record may go unnoticed (Decode, on the next Get, sees
// it). The Entry has no Header, Vary, Tags or Body.
func decodeHead(b []byte, key string) (*Entry, error) {
	if len(b) < 2+checksumLen {
		return nil, corruptf("%d bytes is too short", len(b))
	}
	payload := b[:len(b)-checksumLen]
	e, _, off, bodyLen, err := decodeFixed(payload)
	if err != nil {
		return nil, err
	}
	r := reader{b: payload[:len(payload)-int(bodyLen)], off: off}
	n := r.count()
	if r.err != nil {
		return nil, r.err
	}
	if string(r.b[r.off:r.off+n]) != key {
		return nil, corruptf("stored under %q but names another key", key)
	}
	e.Key = key
	return e, nil
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("decode entry: %s: %w", fmt.Sprintf(format, args...), ErrCorrupt)
}

// fixed reads the fields before the strings region.
func (r *reader) fixed(flags, ext byte) (*Entry, uint64) {
	e := &Entry{Stale: flags&flagStale != 0, MustRevalidate: ext&extMustRevalidate != 0}
	status := r.varint()
	e.Status = int(status)
	if int64(e.Status) != status {
		r.fail("status %d out of range", status)
	}
	if flags&flagReqTime != 0 {
		e.RequestTime = time.Unix(0, r.varint())
	}
	if flags&flagRespTime != 0 {
		e.ResponseTime = time.Unix(0, r.varint())
	}
	if ext&extStaleAt != 0 {
		e.StaleAt = time.Unix(0, r.varint())
	}
	return e, r.uvarint()
}

// decodeStrings parses the strings region: a first pass counts header values
// (so they share one backing array), the second builds substrings of a
// single copy of the region.
func decodeStrings(e *Entry, flags byte, region []byte) error {
	nvals := 0
	if flags&flagHeader != 0 {
		count := reader{b: region}
		count.str()
		nvals = count.countHeaderValues()
		if count.err != nil {
			return count.err
		}
	}
	r := reader{b: region, s: string(region)}
	e.Key = r.str()
	if flags&flagHeader != 0 {
		e.Header = r.header(nvals)
	}
	if flags&flagVary != 0 {
		e.Vary = r.strs()
	}
	if flags&flagTags != 0 {
		e.Tags = r.strs()
	}
	if r.err == nil && r.off != len(region) {
		r.fail("%d stray bytes before the body", len(region)-r.off)
	}
	return r.err
}

// reader walks an encoding; after the first error every read returns zero
// values and err keeps the first error.
type reader struct {
	b   []byte
	s   string // when set, a copy of b that strings are sliced from
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = corruptf(format, args...)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint at offset %d", r.off)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint at offset %d", r.off)
		return 0
	}
	r.off += n
	return v
}

// count reads an element count; each element takes at least one byte, so a
// count above the bytes left is damage (this bounds every allocation).
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)-r.off) {
		r.fail("count %d exceeds the %d bytes left", n, len(r.b)-r.off)
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	start := r.off
	r.off += n
	if r.s != "" {
		return r.s[start:r.off]
	}
	return ""
}

func (r *reader) strs() []string {
	n := r.count()
	if r.err != nil {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.str()
	}
	return ss
}

// countHeaderValues walks a header without building it and returns the total
// number of values.
func (r *reader) countHeaderValues() int {
	total := 0
	for range r.count() {
		r.str()
		n := r.count()
		for range n {
			r.str()
		}
		total += n
	}
	return total
}

// header builds a header whose value slices share one backing array of
// nvals strings; names must be strictly increasing, as Encode writes them,
// so each encoding has one meaning.
func (r *reader) header(nvals int) http.Header {
	nnames := r.count()
	if r.err != nil {
		return nil
	}
	h := make(http.Header, nnames)
	backing := make([]string, nvals)
	prev := ""
	for i := range nnames {
		name := r.str()
		if i > 0 && name <= prev {
			r.fail("header name %q out of order", name)
		}
		prev = name
		n := r.count()
		if r.err != nil || n > len(backing) {
			r.fail("header %q has too many values", name)
			return nil
		}
		var vs []string
		if n > 0 {
			vs = backing[:n:n]
			backing = backing[n:]
		}
		for j := range vs {
			vs[j] = r.str()
		}
		h[name] = vs
	}
	return h
}
