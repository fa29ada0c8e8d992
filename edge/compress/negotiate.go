package compress

import "strings"

// Weights are qvalues scaled to integers: 0 (not acceptable) to 1000 (q=1),
// which is exact because a qvalue has at most three decimals (RFC 9110 §12.4.2).
const (
	qZero = 0
	qOne  = 1000
)

// Negotiate picks the content coding to send a client whose request carried
// the Accept-Encoding field lines acceptEncoding, among offered (codings this
// edge can produce, in server preference order, e.g. Brotli, Gzip).
//
// The rules, all from RFC 9110 §12.5.3 unless noted:
//   - No Accept-Encoding field (len(acceptEncoding) == 0): Identity. The RFC
//     lets a server assume any coding is acceptable, but clients that send no
//     field are mostly ones that cannot decode, and browsers always send it.
//   - An empty field value: only Identity is wanted.
//   - A coding listed with q=0 is not acceptable; a listed coding with q>0 is
//     acceptable; "*" gives its weight to every coding not listed, identity
//     included; an unlisted coding without "*" is not acceptable.
//   - The highest weight wins; ties go to the earlier entry of offered, and a
//     compressed coding beats Identity at equal weight. Identity wins over a
//     coding only when the client weighted it (or "*") strictly higher.
//   - Identity is acceptable unless "identity;q=0", or "*;q=0" without an
//     identity entry, refuses it. When Identity is refused and no offered
//     coding is acceptable, Negotiate returns (Identity, false).
//
// Parsing is deliberately conservative, so a malformed header can only narrow
// what is sent, never widen it:
//   - Codings compare case-insensitively (ASCII) and "x-gzip" is Gzip.
//   - A weight must match the grammar exactly: ";" then "q=" (or "Q=") then
//     a qvalue of at most three decimals no greater than 1 (RFC 9110 §12.4.2).
//     An element with an invalid weight ("gzip;q=2", "gzip;q=1.0000",
//     "gzip;q=abc", "gzip;level=1") counts as listing its coding with q=0.
//   - A coding listed more than once gets its lowest weight.
//   - Empty list elements are ignored (RFC 9110 §5.6.1).
//
// ok is false only when the client refused Identity and nothing offered is
// acceptable. The caller may then answer 406 (Not Acceptable) or, as RFC 9110
// §12.1 allows and as this edge is expected to do, send the identity
// representation anyway: that is the more interoperable choice.
//
// Identity in offered is ignored: identity is always available. Negotiate
// does not allocate.
func Negotiate(acceptEncoding []string, offered ...Encoding) (enc Encoding, ok bool) {
	if len(acceptEncoding) == 0 {
		// RFC 9110 §12.5.3: no field means any coding is acceptable; we
		// still serve identity, as browsers and caches expect.
		return Identity, true
	}
	if len(acceptEncoding) == 1 {
		if names := commonNames(acceptEncoding[0]); names != nil {
			return negotiatePlain(names, offered)
		}
	}
	return negotiate(acceptEncoding, offered)
}

// commonAcceptEncoding are Accept-Encoding values that browsers and common
// clients send, with the codings each lists: plain names, each with the
// implied weight q=1, and neither "*" nor identity. Negotiate answers them
// without parsing (TestCommonAcceptEncoding checks names against value and
// the answers against the general rules).
var commonAcceptEncoding = [...]struct {
	value string
	names []string
}{
	{"gzip, deflate, br, zstd", []string{"gzip", "deflate", "br", "zstd"}}, // Chrome, Edge, Firefox
	{"gzip, deflate, br", []string{"gzip", "deflate", "br"}},               // Safari, older browsers
	{"gzip, deflate", []string{"gzip", "deflate"}},
	{"gzip,deflate", []string{"gzip", "deflate"}},
	{"gzip, br", []string{"gzip", "br"}},
	{"br, gzip", []string{"br", "gzip"}},
	{"deflate, gzip, br, zstd", []string{"deflate", "gzip", "br", "zstd"}}, // curl --compressed
	{"gzip", []string{"gzip"}},                                             // Go's http.Transport, many tools
}

// commonNames returns the codings of a commonAcceptEncoding value, or nil.
func commonNames(v string) []string {
	for i := range commonAcceptEncoding {
		if c := &commonAcceptEncoding[i]; c.value == v {
			return c.names
		}
	}
	return nil
}

// negotiatePlain is Negotiate for a field listing names, all with weight 1,
// without "*" or identity: the first offered coding listed wins, else
// identity, which is acceptable since it is not listed (RFC 9110 §12.5.3).
func negotiatePlain(names []string, offered []Encoding) (Encoding, bool) {
	for _, c := range offered {
		if c == Identity || c == "*" || c == "" {
			continue
		}
		for _, n := range names {
			if sameCoding(n, c) {
				return c, true
			}
		}
	}
	return Identity, true
}

// negotiate is Negotiate for any non-empty list of field lines.
func negotiate(acceptEncoding []string, offered []Encoding) (Encoding, bool) {
	starQ, starListed := weightOf(acceptEncoding, "*")
	best, bestQ := Identity, qZero
	for _, c := range offered {
		if c == Identity || c == "*" || c == "" {
			continue
		}
		q, listed := weightOf(acceptEncoding, c)
		if !listed && starListed {
			q = starQ // RFC 9110 §12.5.3: "*" matches any coding not listed.
		}
		if q > bestQ { // strictly greater: ties keep the server's order.
			best, bestQ = c, q
		}
	}
	idQ, idListed := weightOf(acceptEncoding, Identity)
	if !idListed && starListed {
		idQ, idListed = starQ, true // RFC 9110 §12.5.3: "*;q=0" refuses identity unless listed.
	}
	switch {
	case idListed && idQ > bestQ:
		return Identity, true // the client weighted identity above every offered coding.
	case bestQ > qZero:
		return best, true
	case !idListed || idQ > qZero:
		return Identity, true // RFC 9110 §12.5.3: identity is acceptable by default.
	default:
		return Identity, false // RFC 9110 §12.5.3: "identity;q=0" or "*;q=0".
	}
}

// weightOf returns the lowest weight given to coding by the field lines, and
// whether any element names it at all.
func weightOf(fields []string, coding Encoding) (q int, listed bool) {
	for _, f := range fields {
		for more := true; more; {
			var elem string
			elem, f, more = strings.Cut(f, ",") // RFC 9110 §5.6.1: a comma-separated list.
			name, w, named := parseElement(elem)
			if !named || !sameCoding(name, coding) {
				continue
			}
			if !listed || w < q {
				q = w
			}
			listed = true
		}
	}
	return q, listed
}

// parseElement splits one list element `coding [ OWS ";" OWS "q=" qvalue ]`
// into its coding and weight. named is false for an empty element (RFC 9110
// §5.6.1: ignored). An element whose parameters are not exactly one valid
// weight gets weight 0, so that it can only make a coding unacceptable.
func parseElement(elem string) (name string, q int, named bool) {
	name, params, hasParams := strings.Cut(elem, ";")
	name = trimOWS(name)
	if name == "" {
		return "", qZero, false
	}
	if !hasParams {
		return name, qOne, true // RFC 9110 §12.4.2: no weight means q=1.
	}
	params = trimOWS(params)
	if len(params) < 2 || (params[0] != 'q' && params[0] != 'Q') || params[1] != '=' {
		return name, qZero, true // not a weight: treated as refusing the coding.
	}
	w, valid := parseQValue(params[2:])
	if !valid {
		return name, qZero, true // invalid qvalue: treated as refusing the coding.
	}
	return name, w, true
}

// parseQValue parses qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
// (RFC 9110 §12.4.2) into 0..1000.
func parseQValue(s string) (int, bool) {
	if s == "" || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	whole := int(s[0] - '0')
	if len(s) == 1 {
		return whole * qOne, true
	}
	if s[1] != '.' {
		return 0, false
	}
	frac, scale := 0, 100
	for i := 2; i < len(s); i++ {
		d := s[i]
		if d < '0' || d > '9' || (whole == 1 && d != '0') {
			return 0, false // RFC 9110 §12.4.2: a weight above 1 is invalid.
		}
		frac += int(d-'0') * scale
		scale /= 10
	}
	return whole*qOne + frac, true
}

// trimOWS removes optional whitespace, SP and HTAB (RFC 9110 §5.6.3).
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
