package edge

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"

	"edged/edge/policy"
)

// methodPurge is the non-standard method that tools written for Varnish and
// Squid send to remove one URL from a cache.
const methodPurge = "PURGE"

// purge answers a PURGE request: the target URL, all its variants, is
// removed from every node through the purge bus. Only clients in PurgeFrom
// may purge; "Soft-Purge: 1" marks the object stale instead.
func (x *exchange) purge() {
	h, w, r, t := x.h, &x.w, x.r, x.t
	x.cs = policy.CacheStatus{Fwd: policy.FwdMethod, Detail: policy.DetailPurge}
	if h.opts.Purger == nil {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE")
		x.respondError(http.StatusMethodNotAllowed, "PURGE is not enabled on this node")
		return
	}
	if client := h.client(r); !h.purgeAllowed(client) {
		x.respondError(http.StatusForbidden, "PURGE is not allowed from "+client.String())
		return
	}
	soft, _ := strconv.ParseBool(r.Header.Get("Soft-Purge"))
	count, err := h.opts.Purger.PurgeURL(r.Context(), t.Key(), soft)
	if err != nil {
		h.log.Warn("purge failed", "url", t.Key(), "err", err)
		x.respondError(http.StatusServiceUnavailable, "purge failed: "+err.Error())
		return
	}
	x.setCacheStatus(nil)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(struct {
		URL   string `json:"url"`
		Soft  bool   `json:"soft"`
		Count int    `json:"count"`
	}{t.Key(), soft, count})
}

// purgeAllowed reports whether client, the request's client as
// Options.ClientIP decides it, may PURGE. Never the socket peer alone:
// behind a trusted proxy (a load balancer) every request's peer is the
// proxy, so listing its network, the one way to let a purger through it,
// let every client through it purge.
func (h *Handler) purgeAllowed(client netip.Addr) bool {
	if !client.IsValid() {
		return false
	}
	for _, network := range h.opts.PurgeFrom {
		if network.Contains(client) {
			return true
		}
	}
	return false
}
