package httpsyntax

import "net/http"

// FieldLines is the number of field lines of h, each value counted (a
// field sent on three lines counts three). What a parsed header costs in
// memory grows with it, beyond its bytes: the limits on the field lines
// of requests and upstream responses count with it.
func FieldLines(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}
