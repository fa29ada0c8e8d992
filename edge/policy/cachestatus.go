package policy

import (
	"strconv"
	"strings"
	"time"

	"edged/internal/httpsyntax"
)

// Values of the Cache-Status fwd parameter (RFC 9211 §2.2).
const (
	FwdURIMiss  = "uri-miss"  // the cache had no response for the URI
	FwdVaryMiss = "vary-miss" // it had responses, but none matched the request's headers
	FwdMiss     = "miss"      // it had none (reason unknown)
	FwdRequest  = "request"   // the request forbade using a stored response
	FwdStale    = "stale"     // the stored response was stale and had to be validated
	FwdBypass   = "bypass"    // the cache was configured not to handle the request
	FwdMethod   = "method"    // the request method is not cacheable
	FwdPartial  = "partial"   // only part of the response was stored
)

// CacheStatus is one member of a Cache-Status field (RFC 9211 §2).
type CacheStatus struct {
	Name      string // the cache's name, first item (a token or quoted string)
	Hit       bool
	Fwd       string // one of the Fwd* constants; "" = omit
	FwdStatus int    // 0 = omit
	TTL       time.Duration
	HasTTL    bool
	Stored    bool
	Collapsed bool
	Key       string // "" = omit
	Detail    string // "" = omit
}

// String renders the member as a Structured Field list member (RFC 9211 §2,
// RFC 8941 §4.1), e.g. `edged; fwd=uri-miss; fwd-status=200; stored; ttl=60`.
// ttl is in whole seconds, negative when stale (§2.5).
func (s CacheStatus) String() string {
	var b strings.Builder
	b.Grow(64 + len(s.Key) + len(s.Detail))
	writeTokenOrString(&b, s.Name)
	if s.Hit {
		b.WriteString("; hit") // §2.1
	}
	if s.Fwd != "" {
		b.WriteString("; fwd=") // §2.2
		writeTokenOrString(&b, s.Fwd)
	}
	if s.FwdStatus != 0 {
		b.WriteString("; fwd-status=") // §2.3
		b.WriteString(strconv.Itoa(s.FwdStatus))
	}
	if s.Stored {
		b.WriteString("; stored") // §2.6
	}
	if s.Collapsed {
		b.WriteString("; collapsed") // §2.7
	}
	if s.HasTTL {
		b.WriteString("; ttl=") // §2.5
		sec := int64(s.TTL / time.Second)
		sec = min(max(sec, -999999999999999), 999999999999999) // sf-integer range (RFC 8941 §3.3.1)
		b.WriteString(strconv.FormatInt(sec, 10))
	}
	if s.Key != "" {
		b.WriteString("; key=") // §2.8: a String
		writeSFString(&b, s.Key)
	}
	if s.Detail != "" {
		b.WriteString("; detail=") // §2.9: a String or Token
		writeTokenOrString(&b, s.Detail)
	}
	return b.String()
}

// writeTokenOrString writes s as an sf-token when it is one, else as an
// sf-string (RFC 8941 §3.3.3, §3.3.4).
func writeTokenOrString(b *strings.Builder, s string) {
	if isSFToken(s) {
		b.WriteString(s)
		return
	}
	writeSFString(b, s)
}

func isSFToken(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && c != '*' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !httpsyntax.IsTchar(c) && c != ':' && c != '/' {
			return false
		}
	}
	return true
}

// writeSFString writes an sf-string: DQUOTE, printable ASCII with " and \
// escaped, DQUOTE. Other bytes cannot be represented and become '?'.
func writeSFString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
