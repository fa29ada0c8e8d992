package edge

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// DefaultTransformMax is the largest body a Transform converts when its
// MaxBody is 0.
const DefaultTransformMax = 1 << 20

// Transform converts the response bodies of a route.
//
// With JSONToXML, a 200 application/json (or +json) response is answered
// as application/xml to a client whose Accept ranks XML above JSON (RFC
// 9110 §12.5.1, q-values). The cache keeps the origin's JSON: the
// conversion runs as the response is sent, so one stored entry serves both
// kinds of client, and every JSON response of the route says Vary: Accept
// for the caches downstream. The converted response gets its own ETag (the
// origin's with "-xml" appended) so that no validator is shared between
// the two representations. An XML client's request asks for no content
// coding (its Accept-Encoding is dropped) since only an identity body can
// be converted.
//
// Limits: bodies over MaxBody, bodies without a Content-Length (streamed),
// bodies past the memory budget (Options.BodyMemory, which the held JSON
// and its XML count against) and bodies that are not valid JSON pass
// untouched; a HEAD gets the XML
// header fields without a Content-Length; ranges (206) are not converted.
type Transform struct {
	// JSONToXML turns JSON responses into XML for clients that prefer it.
	JSONToXML bool
	// MaxBody is the largest body converted; 0 means DefaultTransformMax.
	MaxBody int64
}

func (tf *Transform) maxBody() int64 {
	if tf.MaxBody > 0 {
		return tf.MaxBody
	}
	return DefaultTransformMax
}

// transform sets x up to convert its response as its route's Transform
// says. Routes without one never get here: no cost on their hits.
func (x *exchange) transform(tf *Transform) {
	r := x.r
	toXML := prefersXML(r.Header["Accept"])
	if toXML {
		r.Header.Del("Accept-Encoding")
	}
	x.w.ResponseWriter = &transformWriter{ResponseWriter: x.w.ResponseWriter, max: tf.maxBody(), toXML: toXML, head: r.Method == http.MethodHead,
		held: &x.w.held}
}

// transformWriter converts a JSON response to XML on its way out: it holds
// the body back until Content-Length bytes are in, then writes the XML.
type transformWriter struct {
	http.ResponseWriter
	max   int64
	toXML bool // the client prefers XML
	head  bool
	held  *hold // the request's share of the body budget, released with it

	status int    // set while a body is being held
	want   int64  // the held body's length
	buf    []byte // the held body
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *transformWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// FlushError flushes the connection's writer, but not while a body is held
// for conversion: that would send the JSON's head before the XML's (a body
// sent as it arrives is flushed after each piece, serveWhileFilling).
func (w *transformWriter) FlushError() error {
	if w.status != 0 {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *transformWriter) WriteHeader(code int) {
	h := w.Header()
	if code < 200 || !isJSON(h.Get("Content-Type")) {
		w.ResponseWriter.WriteHeader(code) // interim responses pass as they are
		return
	}
	// RFC 9110 §12.5.5: the representation depends on Accept.
	addVary(h, "Accept")
	n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	if !w.toXML || code != http.StatusOK || h.Get("Content-Encoding") != "" || err != nil || n <= 0 || n > w.max {
		// Not asked for, streamed, or too large: untouched.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.head {
		h.Del("Content-Length") // the XML's length is not known without the body
		xmlHeader(h)
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if !w.held.Admit(n) {
		w.ResponseWriter.WriteHeader(code) // past the body memory budget: untouched
		return
	}
	w.status, w.want, w.buf = code, n, make([]byte, 0, n)
}

func (w *transformWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		return w.ResponseWriter.Write(p)
	}
	w.buf = append(w.buf, p...)
	if int64(len(w.buf)) >= w.want {
		if err := w.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush writes the held body, converted when it is valid JSON.
func (w *transformWriter) flush() error {
	status, body := w.status, w.buf
	w.status, w.buf = 0, nil
	if out, err := jsonToXML(body); err == nil && w.held.Admit(int64(len(out))) {
		h := w.Header()
		xmlHeader(h)
		h.Set("Content-Length", strconv.Itoa(len(out)))
		body = out
	}
	w.ResponseWriter.WriteHeader(status)
	_, err := w.ResponseWriter.Write(body)
	return err
}

// xmlHeader turns a JSON response's header into the XML one's.
func xmlHeader(h http.Header) {
	h.Set("Content-Type", "application/xml; charset=utf-8")
	if etag := h.Get("Etag"); strings.HasSuffix(etag, `"`) {
		// RFC 9110 §8.8.3: another representation, another entity tag.
		h.Set("Etag", etag[:len(etag)-1]+`-xml"`)
	}
	// Digests of the JSON (RFC 9530) do not describe the XML.
	h.Del("Content-Digest")
	h.Del("Repr-Digest")
	h.Del("Content-Md5")
}

// isJSON reports whether a Content-Type is application/json or a +json
// type (RFC 6839 §3.1).
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// prefersXML reports whether an Accept field ranks XML (application/xml or
// text/xml) above application/json: each type gets the q-value of the
// most specific range that matches it (RFC 9110 §12.5.1), and XML must
// have a positive one. No Accept means any type: JSON stays.
func prefersXML(values []string) bool {
	if len(values) == 0 {
		return false
	}
	ranges := parseAccept(values)
	qXML := max(acceptQ(ranges, "application", "xml"), acceptQ(ranges, "text", "xml"))
	return qXML > 0 && qXML > acceptQ(ranges, "application", "json")
}

type mediaRange struct {
	typ, sub string
	q        float64
}

func parseAccept(values []string) []mediaRange {
	var out []mediaRange
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			mr, params, _ := strings.Cut(elem, ";")
			typ, sub, ok := strings.Cut(strings.ToLower(strings.TrimSpace(mr)), "/")
			if !ok || typ == "" || sub == "" {
				continue
			}
			q, valid := 1.0, true
			for param := range strings.SplitSeq(params, ";") {
				name, value, _ := strings.Cut(strings.TrimSpace(param), "=")
				if strings.EqualFold(strings.TrimSpace(name), "q") {
					// RFC 9110 §12.4.2: qvalue = 0 to 1, three decimals.
					f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
					q, valid = f, err == nil && f >= 0 && f <= 1 && len(strings.TrimSpace(value)) <= 5
				}
			}
			if valid {
				out = append(out, mediaRange{typ, sub, q})
			}
		}
	}
	return out
}

// acceptQ is the q-value ranges give typ/sub: that of the most specific
// matching range (type/subtype over type/* over */*), 0 if none matches.
func acceptQ(ranges []mediaRange, typ, sub string) float64 {
	best, q := 0, 0.0
	for _, r := range ranges {
		spec := 0
		switch {
		case r.typ == typ && r.sub == sub:
			spec = 3
		case r.typ == typ && r.sub == "*":
			spec = 2
		case r.typ == "*" && r.sub == "*":
			spec = 1
		}
		if spec > best || spec == best && spec > 0 && r.q > q {
			best, q = spec, r.q
		}
	}
	return q
}

// maxJSONDepth bounds the nesting converted (a deeper body passes as JSON).
const maxJSONDepth = 64

var errTrailing = errors.New("data after the JSON value")

// jsonToXML converts one JSON value to an XML document, keeping the order
// of object members: the root element is <root>; an object member is an
// element named after its key (or <item key="..."> when the key is not an
// XML name); an array's elements are <item> elements; null is an empty
// element.
func jsonToXML(src []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var b bytes.Buffer
	b.Grow(len(src) * 2)
	b.WriteString(xml.Header)
	if err := writeXMLValue(&b, dec, "root", 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return b.Bytes(), nil
}

func writeXMLValue(b *bytes.Buffer, dec *json.Decoder, key string, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	name := key
	if !isXMLName(key) {
		name = "item"
	}
	b.WriteByte('<')
	b.WriteString(name)
	if name != key {
		b.WriteString(` key="`)
		_ = xml.EscapeText(b, []byte(key))
		b.WriteByte('"')
	}
	b.WriteByte('>')
	switch v := tok.(type) {
	case json.Delim:
		for dec.More() {
			member := "item"
			if v == '{' {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				member, _ = k.(string)
			}
			if err := writeXMLValue(b, dec, member, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return err
		}
	case string:
		_ = xml.EscapeText(b, []byte(v))
	case json.Number:
		b.WriteString(v.String())
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
	}
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
	return nil
}

// isXMLName reports whether s is a plain XML element name: an ASCII letter
// or _, then letters, digits, '-', '_' or '.', and not starting with "xml"
// (reserved, XML 1.0 §2.3).
func isXMLName(s string) bool {
	if s == "" || len(s) >= 3 && strings.EqualFold(s[:3], "xml") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}
