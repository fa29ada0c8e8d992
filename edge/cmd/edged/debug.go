package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"
)

// debugHandler serves the Go profiles (/debug/pprof/) behind a bearer
// token. Profiles show what a node is doing and for whom (symbol names,
// goroutine stacks with URLs being fetched), and a CPU profile or trace
// costs CPU while it runs: so they are off unless debug.pprof is set, and
// even on the private admin listener every request must carry the token.
func debugHandler(token string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !bearerIs(r, want) {
			// RFC 6750 §3: a request without valid credentials gets a challenge.
			w.Header().Set("WWW-Authenticate", `Bearer realm="edged debug"`)
			http.Error(w, "unauthorized: /debug/pprof needs the debug token", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// bearerIs reports whether r carries "Authorization: Bearer <token>" whose
// SHA-256 is want, compared in constant time (hashing first keeps the time
// independent of the token's length too).
func bearerIs(r *http.Request, want [sha256.Size]byte) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	// RFC 6750 §2.1: "Bearer" credentials; RFC 9110 §11.1: the scheme is case-insensitive.
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
