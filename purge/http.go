package purge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// response is the JSON body of a 200 answer of the purge API.
type response struct {
	ID         string  `json:"id"`
	Seq        uint64  `json:"seq"`
	Count      int     `json:"count"`
	DurationMS float64 `json:"duration_ms"`
	ApplyMS    float64 `json:"apply_ms"`
	// Warning names a fleet misconfiguration this node saw (Problem): a
	// peer it cannot verify will not apply this purge either; and what the
	// purge may miss for this node's routes (Result.Warning).
	Warning string `json:"warning,omitempty"`
}

// errorResponse is the JSON body of every other answer.
type errorResponse struct {
	Error    string `json:"error"`
	ID       string `json:"id,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
	Accepted bool   `json:"accepted,omitempty"`
}

// Handler serves the purge API; mount it at /purge on the admin listener.
//
// GET with a challenge query parameter and no credentials answers 200
// with {"proof": AdminProof(token, challenge)}: what a client checks before
// it sends the token (proof.go); 400 for no challenge or one over
// MaxChallenge bytes, 503 when no token is configured.
//
// POST with a bearer token and a JSON Request answers 200 with
// {"id","seq","count","duration_ms","apply_ms"} once the local node applied
// the purge, with "warning" when Problem names a peer that will not apply
// it or the purge may miss copies for this node's routes (Result.Warning);
// 400 for bad input, 401 (with WWW-Authenticate: Bearer) without the right
// token, 405 for other methods, 413 for bodies over MaxBodySize,
// 503 when the bus is down or no token is configured (nothing published)
// or when every node rejects the stored purge for this node's clock
// (ErrClockSkew: nothing purged), or when the purge was published but not
// all that the routes map it to (ErrIncomplete, with id and seq),
// 504 when the purge was accepted but not applied locally in time (it will
// still be applied everywhere). Every error body is {"error": "..."}.
func (b *Bus) Handler() http.Handler {
	return http.HandlerFunc(b.serveHTTP)
}

func (b *Bus) serveHTTP(w http.ResponseWriter, r *http.Request) {
	challenge, proving := r.URL.Query()["challenge"]
	proving = proving && r.Method == http.MethodGet
	if r.Method != http.MethodPost && !proving {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorResponse{Error: "method not allowed: use POST"})
		return
	}
	if b.opts.Token == "" {
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: "purge API disabled: no token configured"})
		return
	}
	if proving {
		b.serveProof(w, challenge)
		return
	}
	if !b.authorized(r) {
		// Logged, never the credentials: a guessing client shows up.
		b.log.Warn("purge request refused", "status", http.StatusUnauthorized, "remote", r.RemoteAddr,
			"err", "missing or wrong bearer token")
		// RFC 6750 §3: a request without valid credentials gets a Bearer challenge.
		w.Header().Set("WWW-Authenticate", `Bearer realm="edged purge"`)
		writeJSON(w, http.StatusUnauthorized, errorResponse{Error: "missing or wrong bearer token"})
		return
	}
	if r.ContentLength > MaxBodySize {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorResponse{Error: "request body too large: over 1 MiB"})
		return
	}
	req, err := ParseRequest(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		b.log.Info("purge request refused", "status", status, "remote", r.RemoteAddr, "err", err)
		writeJSON(w, status, errorResponse{Error: err.Error()})
		return
	}
	res, err := b.Publish(r.Context(), req)
	if res.ID != "" {
		// Who asked for it: "purge published" names the event, not the client.
		b.log.Info("purge request", "remote", r.RemoteAddr, "id", res.ID, "seq", res.Seq, "kinds", req.Kinds(), "soft", req.Soft)
	}
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, response{ID: res.ID, Seq: res.Seq, Count: res.Count,
			DurationMS: ms(res.Duration.Seconds()), ApplyMS: ms(res.ApplyDuration.Seconds()), Warning: joinWarnings(b.Problem(), res.Warning)})
	case errors.Is(err, ErrNotApplied):
		writeJSON(w, http.StatusGatewayTimeout, errorResponse{ID: res.ID, Seq: res.Seq, Accepted: true,
			Error: "purge accepted and published but not yet applied on this node; it will still be applied on every node"})
	case errors.Is(err, ErrIncomplete):
		b.log.Error("purge request incomplete", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{ID: res.ID, Seq: res.Seq, Accepted: true,
			Error: err.Error() + "; sending the purge again is safe"})
	case errors.Is(err, ErrClockSkew):
		b.log.Error("purge request failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{ID: res.ID, Seq: res.Seq,
			Error: "nothing was purged: " + err.Error() + "; fix this node's time synchronization (NTP); sending the purge again is safe"})
	case errors.Is(err, ErrInvalid):
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: err.Error()})
	case errors.Is(err, errUnacknowledged):
		b.log.Error("purge request not acknowledged", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: err.Error() + "; sending it again is safe"})
	default: // ErrUnavailable, ErrClosed
		b.log.Error("purge request failed", "err", err)
		// err names the bus as ErrUnavailable does: said once, not
		// "purge bus unavailable, nothing was purged: purge bus unavailable: ...".
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: "purge bus unavailable, nothing was purged: " + strings.TrimPrefix(err.Error(), ErrUnavailable.Error()+": ")})
	}
}

// serveProof answers GET /purge?challenge=C with AdminProof (proof.go):
// no credentials needed, nothing logged, nothing changed.
func (b *Bus) serveProof(w http.ResponseWriter, challenge []string) {
	if len(challenge) != 1 || challenge[0] == "" || len(challenge[0]) > MaxChallenge {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: "want one challenge of 1 to 256 bytes"})
		return
	}
	writeJSON(w, http.StatusOK, proofResponse{Proof: AdminProof(b.opts.Token, challenge[0])})
}

// authorized compares the bearer token in constant time; hashing both sides
// first keeps the comparison's time independent of the token's length too.
func (b *Bus) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	// RFC 6750 §2.1: "Bearer" credentials; RFC 9110 §11.1: the scheme is case-insensitive.
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(b.opts.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// ms rounds seconds to milliseconds with microsecond precision.
func ms(s float64) float64 { return float64(int64(s*1e6)) / 1e3 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
