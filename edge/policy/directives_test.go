package policy

import (
	"testing"

	"github.com/pquerna/cachecontrol/cacheobject"
)

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		maxAge int64
		sMax   int64
		flags  uint16
	}{
		{"§5.2.2.1 plain", []string{"max-age=60"}, 60, unset, 0},
		{"§5.2 case-insensitive names", []string{"MaX-AgE=60, No-StOrE"}, 60, unset, fNoStore},
		{"§5.2 quoted argument accepted", []string{`max-age="60"`}, 60, unset, 0},
		{"§5.2 single quotes are not quotes", []string{`max-age='60'`}, invalid, unset, 0},
		{"§1.2.2 leading zeros", []string{"max-age=003600"}, 3600, unset, 0},
		{"§1.2.2 negative is invalid", []string{"max-age=-1"}, invalid, unset, 0},
		{"§1.2.2 decimal is invalid", []string{"max-age=3600.0"}, invalid, unset, 0},
		{"§1.2.2 trailing alpha is invalid", []string{"max-age=100a"}, invalid, unset, 0},
		{"§1.2.2 leading alpha is invalid", []string{"max-age=a100"}, invalid, unset, 0},
		{"§1.2.2 saturates at 2^31", []string{"max-age=99999999999999999999"}, 1 << 31, unset, 0},
		{"§1.2.2 2^31 exactly", []string{"max-age=2147483648"}, 1 << 31, unset, 0},
		{"§5.2 space before = ", []string{"max-age =100"}, invalid, unset, 0},
		{"§5.2 space after =", []string{"max-age= 100"}, invalid, unset, 0},
		{"§5.2 missing argument", []string{"max-age"}, invalid, unset, 0},
		{"§4.2.1 conflicting duplicates are stale", []string{"max-age=1800, max-age=1"}, invalid, unset, 0},
		{"§4.2.1 conflicting duplicates across lines", []string{"max-age=1", "max-age=1800"}, invalid, unset, 0},
		{"§4.2.1 equal duplicates are fine", []string{"max-age=5, max-age=5"}, 5, unset, 0},
		{"§5.2.3 quoted max-age in extension ignored", []string{`extension="max-age=3600", max-age=1`}, 1, unset, 0},
		{"§5.2.3 quoted max-age after real one ignored", []string{`max-age=1, extension="max-age=3600"`}, 1, unset, 0},
		{"§5.2.3 bad directive keeps others", []string{"max-age=abc, no-store"}, invalid, unset, fNoStore},
		{"§5.2.2.10 s-maxage", []string{"s-maxage=10, max-age=5"}, 5, 10, 0},
		{"§5.2.2.4 qualified no-cache", []string{`no-cache="Set-Cookie, X-A"`}, unset, unset, fNoCacheFields},
		{"§5.2.2.7 qualified private", []string{`private="X-A"`, "public"}, unset, unset, fPrivateFields | fPublic},
		{"§5.2 empty elements tolerated", []string{",, ,max-age=7,,"}, 7, unset, 0},
		{"§5.2 escaped quote in quoted string", []string{`foo="a\"b,max-age=9", max-age=3`}, 3, unset, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := parseCacheControl(tt.lines)
			if d.maxAge != tt.maxAge || d.sMaxAge != tt.sMax || d.flags != tt.flags {
				t.Errorf("got max-age=%d s-maxage=%d flags=%b, want %d %d %b", d.maxAge, d.sMaxAge, d.flags, tt.maxAge, tt.sMax, tt.flags)
			}
		})
	}
}

// W3C Edge Architecture Specification 1.0: Surrogate-Control directives
// may carry ";device-token"; edge1's are its own and the untargeted ones.
func TestParseSurrogate(t *testing.T) {
	tests := []struct {
		name   string
		self   string
		lines  []string
		maxAge int64
		flags  uint16
		absent bool // no directive applies (present is false)
	}{
		{"untargeted", "edge1", []string{"max-age=60, no-store"}, 60, fNoStore, false},
		{"targeted at self", "edge1", []string{"max-age=60;edge1"}, 60, 0, false},
		{"device token case-insensitive", "edge1", []string{"max-age=60;Edge1"}, 60, 0, false},
		{"targeted at another only", "edge1", []string{"max-age=60;other, no-store;other"}, unset, 0, true},
		{"the spec's example", "edge1", []string{"max-age=60;edge1, no-store;other"}, 60, 0, false},
		{"self's takes precedence", "edge1", []string{"max-age=60, max-age=300;edge1"}, 300, 0, false},
		{"self's across lines", "edge1", []string{"max-age=300;edge1", "max-age=60"}, 300, 0, false},
		{"another's does not conflict", "edge1", []string{"max-age=60, max-age=1;other"}, 60, 0, false},
		{"self's flags add to untargeted", "edge1", []string{"max-age=60, no-store;edge1"}, 60, fNoStore, false},
		{"quoted value, spaces around ;", "edge1", []string{`max-age="60" ; edge1, max-age=5 ;other`}, 60, 0, false},
		{"qualified no-cache targeted", "edge1", []string{`no-cache="X-A";edge1`}, unset, fNoCacheFields, false},
		{"no name: untargeted only", "", []string{"max-age=60, max-age=300;edge1, no-store;edge1"}, 60, 0, false},
		{"an empty token is no target", "edge1", []string{"max-age=60;"}, 60, 0, false},
		{"bad target value still a target", "edge1", []string{"max-age=60;edge1x"}, unset, 0, true},
		{"space before = stays invalid", "edge1", []string{"max-age =60;edge1"}, invalid, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := parseSurrogate(tt.lines, tt.self)
			if !ok || d.maxAge != tt.maxAge || d.flags != tt.flags || d.present == tt.absent {
				t.Errorf("got ok %v max-age=%d flags=%b present %v, want %d %b present %v", ok, d.maxAge, d.flags, d.present, tt.maxAge, tt.flags, !tt.absent)
			}
		})
	}
}

func TestParseCacheControlUnterminatedQuote(t *testing.T) {
	if _, ok := parseCacheControl([]string{`no-store, foo="bar`}); ok {
		t.Error("unterminated quoted string accepted")
	}
}

// TestPquernaBehaviour pins what github.com/pquerna/cachecontrol does with the
// inputs that made edged write its own scanner (see directives.go). If the
// library changes, these tell us whether it can take over.
func TestPquernaBehaviour(t *testing.T) {
	// Quoted values are unquoted and accepted (as RFC 9111 §5.2 asks).
	cd, err := cacheobject.ParseResponseCacheControl(`max-age="60"`)
	if err != nil || cd.MaxAge != 60 {
		t.Errorf("quoted max-age: got %v, %v; want 60", cd, err)
	}
	// Duplicates: the last value wins (RFC 9111 §4.2.1 wants the first or stale).
	cd, err = cacheobject.ParseResponseCacheControl("max-age=1800, max-age=1")
	if err != nil || cd.MaxAge != 1 {
		t.Errorf("duplicate max-age: got %v, %v; want last (1)", cd, err)
	}
	// One invalid number rejects the whole field, losing no-store.
	if _, err = cacheobject.ParseResponseCacheControl("max-age=abc, no-store"); err == nil {
		t.Error("invalid max-age: want an error for the whole field")
	}
	// Negative values are errors too.
	if _, err = cacheobject.ParseResponseCacheControl("max-age=-1"); err == nil {
		t.Error("negative max-age: want an error")
	}
	// Huge values saturate at MaxInt32 (RFC 9111 §1.2.2 says 2^31).
	cd, err = cacheobject.ParseResponseCacheControl("max-age=99999999999")
	if err != nil || cd.MaxAge != 2147483647 {
		t.Errorf("huge max-age: got %v, %v", cd, err)
	}
}

func TestParseTargeted(t *testing.T) {
	tests := []struct {
		name   string
		lines  []string
		ok     bool
		maxAge int64
		flags  uint16
	}{
		{"RFC 9213 §2.1 integer max-age", []string{"max-age=3600"}, true, 3600, 0},
		{"RFC 9213 §2.1 extension ignored", []string{"foobar, max-age=3600"}, true, 3600, 0},
		{"RFC 9213 §2.1 huge saturates", []string{"max-age=99999999999"}, true, 1 << 31, 0},
		{"RFC 9213 §2.1 string max-age is the wrong type", []string{`max-age="10000"`}, false, 0, 0},
		{"RFC 9213 §2.1 invalid dictionary ignored", []string{"max-age=10000, &&&&&"}, false, 0, 0},
		{"RFC 9213 §2.1 empty field ignored", []string{""}, false, 0, 0},
		{"RFC 9213 §2.1 space before = invalid", []string{"max-age =100"}, false, 0, 0},
		{"RFC 9213 §2.1 space after = invalid", []string{"max-age= 100"}, false, 0, 0},
		{"RFC 8941 §4.2.2 last duplicate wins", []string{"max-age=1, max-age=5"}, true, 5, 0},
		{"RFC 9213 §2.1 flags", []string{"no-store, private"}, true, unset, fNoStore | fPrivate},
		{"RFC 8941 boolean false is absent", []string{"no-store=?0, max-age=5"}, true, 5, 0},
		{"RFC 9213 §2.1 qualified no-cache as string", []string{`no-cache="a, b"`}, true, unset, fNoCacheFields},
		{"RFC 9213 §2.1 lenient key case", []string{"MaX-aGe=3600"}, true, 3600, 0},
		{"RFC 8941 parameters ignored", []string{"max-age=60;foo=bar, none"}, true, 60, 0},
		{"RFC 8941 trailing comma invalid", []string{"max-age=60,"}, false, 0, 0},
		{"RFC 8941 decimal max-age wrong type", []string{"max-age=1.5"}, false, 0, 0},
		{"RFC 8941 negative max-age invalid", []string{"max-age=-5"}, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := parseTargeted(tt.lines)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && (d.maxAge != tt.maxAge || d.flags != tt.flags) {
				t.Errorf("got max-age=%d flags=%b, want %d %b", d.maxAge, d.flags, tt.maxAge, tt.flags)
			}
		})
	}
}
