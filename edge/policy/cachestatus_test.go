package policy

import (
	"testing"
	"time"
)

func TestCacheStatusString(t *testing.T) {
	tests := []struct {
		name string
		s    CacheStatus
		want string
	}{
		{"RFC 9211 §2.1 hit", CacheStatus{Name: "edged", Hit: true, TTL: 376 * time.Second, HasTTL: true}, "edged; hit; ttl=376"},
		{"RFC 9211 §2.2 miss stored", CacheStatus{Name: "edged", Fwd: FwdURIMiss, FwdStatus: 200, Stored: true, TTL: 60 * time.Second, HasTTL: true},
			"edged; fwd=uri-miss; fwd-status=200; stored; ttl=60"},
		{"RFC 9211 §2.5 negative ttl", CacheStatus{Name: "edged", Hit: true, TTL: -1500 * time.Millisecond, HasTTL: true}, "edged; hit; ttl=-1"},
		{"RFC 9211 §2.7 collapsed", CacheStatus{Name: "edged", Fwd: FwdMiss, Collapsed: true}, "edged; fwd=miss; collapsed"},
		{"RFC 9211 §2 name as string", CacheStatus{Name: "edge 1", Hit: true}, `"edge 1"; hit`},
		{"RFC 9211 §2.8 key escaped", CacheStatus{Name: "edged", Fwd: FwdStale, Key: `https://h/"a"\b`}, `edged; fwd=stale; key="https://h/\"a\"\\b"`},
		{"RFC 9211 §2.9 detail token", CacheStatus{Name: "edged", Fwd: FwdBypass, Detail: "no-store"}, "edged; fwd=bypass; detail=no-store"},
		{"RFC 9211 §2.9 detail string", CacheStatus{Name: "edged", Fwd: FwdRequest, Detail: "request no-cache"}, `edged; fwd=request; detail="request no-cache"`},
		{"RFC 8941 §3.3.3 non-printable replaced", CacheStatus{Name: "edged", Detail: "a\x01b é"}, `edged; detail="a?b ??"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
