package edge

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync/atomic"
)

// requestIDField carries a request's id: kept from a trusted proxy, else
// made here; sent upstream, echoed to the client, and logged, so that one
// request can be followed through every hop's logs.
const requestIDField = "X-Request-Id"

// maxRequestID bounds an incoming id that is kept: one that is longer is
// replaced, so a client cannot fill logs through it.
const maxRequestID = 128

// Generated ids are the process's random prefix, a dash, and a counter in
// hex, fixed width: "3f9a0c1b2d4e5f60-00000000002a". The prefix keeps the
// ids of nodes and restarts apart without a random read per request.
const (
	idPrefixLen  = 16
	idCounterLen = 12
	idLen        = idPrefixLen + 1 + idCounterLen
	// idBatch ids are made at once, in one string, so that a request
	// takes its id (and the header value slice that holds it) without an
	// allocation of its own.
	idBatch = 64
)

// requestIDs makes request ids: the Handler's prefix and counter.
type requestIDs struct {
	prefix [idPrefixLen]byte
	next   atomic.Uint64 // the counter of the next batch's first id
}

func newRequestIDs() *requestIDs {
	ids := &requestIDs{}
	var raw [idPrefixLen / 2]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24)
	hex.Encode(ids.prefix[:], raw[:])
	return ids
}

// idSource hands out ids from a batch; each exchange keeps one, so taking
// an id needs no lock.
type idSource struct {
	batch string   // idBatch ids, idLen bytes each
	vals  []string // one header value slice per id of batch
	used  int      // ids of batch taken
}

// take returns the next id, as a header value slice of its own.
func (s *idSource) take(ids *requestIDs) []string {
	if s.used == len(s.vals) {
		s.fill(ids)
	}
	i := s.used
	s.used++
	// Capacity 1: an Add on one request's header never writes into the
	// value slice of another's.
	return s.vals[i : i+1 : i+1]
}

// fill makes a new batch. The old batch's strings and slices stay with the
// requests that took them: nothing is ever written into them again.
func (s *idSource) fill(ids *requestIDs) {
	first := ids.next.Add(idBatch) - idBatch
	b := make([]byte, 0, idBatch*idLen)
	for n := first; n < first+idBatch; n++ {
		b = append(b, ids.prefix[:]...)
		b = append(b, '-')
		for shift := 4 * (idCounterLen - 1); shift >= 0; shift -= 4 {
			b = append(b, "0123456789abcdef"[n>>shift&0xf])
		}
	}
	s.batch = string(b)
	s.vals = make([]string, idBatch)
	for i := range s.vals {
		s.vals[i] = s.batch[i*idLen : (i+1)*idLen]
	}
	s.used = 0
}

// setRequestID gives x its request id: the one a trusted proxy sent, when
// it is well formed, else a new one, which replaces whatever the client
// sent before anything forwards the request. The id is sent upstream with
// the request; setCacheStatus echoes it on the response.
func (x *exchange) setRequestID() {
	h, r := x.h, x.r
	if h.opts.NoRequestID {
		return
	}
	if v := r.Header[requestIDField]; len(v) == 1 && validRequestID(v[0]) && h.fromTrustedProxy(r) {
		x.requestID = v[:1:1]
		return
	}
	x.requestID = x.ids.take(h.ids)
	r.Header[requestIDField] = x.requestID
}

// fromTrustedProxy reports whether r's socket peer is a trusted proxy (the
// list edge/clientip believes forwarding headers from).
func (h *Handler) fromTrustedProxy(r *http.Request) bool {
	return h.opts.ClientIP != nil && h.opts.ClientIP.FromTrustedProxy(r)
}

// validRequestID accepts 1 to maxRequestID visible ASCII characters (RFC
// 5234 VCHAR): nothing that could split a log line or a header.
func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
