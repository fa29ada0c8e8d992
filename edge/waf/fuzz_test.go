package waf

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// FuzzInspect sends arbitrary targets, header values and bodies through a
// blocking WAF: it must not panic, a verdict must be one of the three, and
// the body the request goes on with must be the one it came with.
func FuzzInspect(f *testing.F) {
	f.Add("/item?id=1' OR '1'='1", "Mozilla/5.0", "application/x-www-form-urlencoded", []byte("a=1&b=%ZZ"))
	f.Add("/%2e%2e/%2e%2e/etc/passwd", "", "application/json", []byte(`{"a":[1,{"b":"<script>"}]`))
	f.Add("/x?%", "sqlmap/1.7", "multipart/form-data; boundary=zz", []byte("--zz\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n--zz--\r\n"))
	f.Add("/", "\x00\xff", "text/xml", []byte("<a><b>&xxe;</b></a>"))
	w := mustWAF(f, Options{Mode: ModeBlock, RequestBodyLimit: 256, OversizeBody: BodyInspectPartial})
	f.Fuzz(func(t *testing.T, target, agent, ctype string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: http.MethodPost, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Host: "shop.example", Header: http.Header{"User-Agent": {agent}, "Content-Type": {ctype}},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
		v := w.Inspect(r, "fuzz", client, nil)
		if v.Action > Blocked || v.Action == Blocked && (v.Status < 400 || v.Status > 499) {
			t.Fatalf("verdict %+v", v)
		}
		if v.Status == http.StatusRequestEntityTooLarge {
			t.Fatalf("inspect_partial refused a body of %d bytes", len(body))
		}
		got, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("body after inspection %q (%v), want %q", got, err, body)
		}
	})
}
