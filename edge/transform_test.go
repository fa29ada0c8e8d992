package edge

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestPrefersXML(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"application/xml", true},
		{"text/xml", true},
		{"application/json", false},
		{"application/json, application/xml", false}, // equal q: JSON stays
		{"application/json;q=0.5, application/xml", true},
		{"application/xml;q=0.9, application/json;q=0.8", true},
		{"application/*;q=0.5, application/xml;q=0.4", false}, // json gets 0.5 from application/*
		{"*/*", false},
		{"*/*;q=0.1, text/xml", true},
		{"application/xml;q=0", false},
		{"application/xml;q=2", false}, // an invalid q drops the range
		{"APPLICATION/XML", true},
	}
	for _, tt := range tests {
		var values []string
		if tt.accept != "" {
			values = []string{tt.accept}
		}
		if got := prefersXML(values); got != tt.want {
			t.Errorf("prefersXML(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestJSONToXML(t *testing.T) {
	got, err := jsonToXML([]byte(`{"id":42,"name":"a<b","tags":["x","y"],"ok":true,"none":null,"1st":1.5e3,"n":{"deep":"v"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<root><id>42</id><name>a&lt;b</name><tags><item>x</item><item>y</item></tags><ok>true</ok><none></none>` +
		`<item key="1st">1.5e3</item><n><deep>v</deep></n></root>`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{`{"a":1} x`, `{"a":`, `[` + strings.Repeat(`[`, 70) + strings.Repeat(`]`, 71)} {
		if _, err := jsonToXML([]byte(bad)); err == nil {
			t.Errorf("jsonToXML(%q) accepted it", bad)
		}
	}
}

// Through a route with json_to_xml: an XML client gets XML with its own
// ETag, a JSON client gets the JSON, both from one stored entry and both
// with Vary: Accept; a body over the cap and a streamed body pass as JSON.
func TestTransformJSONToXMLThroughRoute(t *testing.T) {
	c := newClock()
	o := newOrigin(t, c, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v1"`)
		switch r.URL.Path {
		case "/big":
			_, _ = io.WriteString(w, `{"pad":"`+strings.Repeat("x", 200)+`"}`)
		case "/live/streamed":
			_, _ = io.WriteString(w, `{"part":1`)
			w.(http.Flusher).Flush() // no Content-Length: chunked
			_, _ = io.WriteString(w, `}`)
		default:
			_, _ = io.WriteString(w, `{"id":42,"name":"Ada"}`)
		}
	})
	e := routedEdge(t, c, &Site{Name: "api", Hosts: []string{"api.example"}, Routes: []*Route{
		{PathPrefix: "/", Upstream: upstreamTo(t, o.URL), Transform: &Transform{JSONToXML: true, MaxBody: 100}},
		// Passed on as the body arrives (a fill would hold it whole, and know its length).
		{PathPrefix: "/live/", Upstream: upstreamTo(t, o.URL), Cache: RouteCache{Bypass: true}, Transform: &Transform{JSONToXML: true}}}})

	resp, body := e.get(t, "/user", "Host", "api.example", "Accept", "application/xml", "Accept-Encoding", "gzip")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") ||
		body != `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<root><id>42</id><name>Ada</name></root>` {
		t.Errorf("XML client got %s %q", ct, body)
	}
	if resp.Header.Get("Etag") != `"v1-xml"` || !strings.Contains(resp.Header.Get("Vary"), "Accept") {
		t.Errorf("XML response fields: ETag %q, Vary %q", resp.Header.Get("Etag"), resp.Header.Get("Vary"))
	}
	resp, body = e.get(t, "/user", "Host", "api.example", "Accept", "application/json")
	if body != `{"id":42,"name":"Ada"}` || !isHit(resp) || resp.Header.Get("Etag") != `"v1"` || !strings.Contains(resp.Header.Get("Vary"), "Accept") {
		t.Errorf("JSON client got %q, Cache-Status %q, ETag %q, Vary %q", body, resp.Header.Get("Cache-Status"), resp.Header.Get("Etag"), resp.Header.Get("Vary"))
	}
	resp, body = e.get(t, "/user", "Host", "api.example", "Accept", "text/xml")
	if !isHit(resp) || !strings.Contains(body, "<name>Ada</name>") {
		t.Errorf("second XML client: %q, Cache-Status %q", body, resp.Header.Get("Cache-Status"))
	}
	resp, body = e.do(t, http.MethodHead, "/user", "Host", "api.example", "Accept", "application/xml")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") || body != "" || resp.Header.Get("Etag") != `"v1-xml"` {
		t.Errorf("HEAD for an XML client: %s, ETag %q, body %q", resp.Header.Get("Content-Type"), resp.Header.Get("Etag"), body)
	}
	if n := o.requests.Load(); n != 1 {
		t.Errorf("origin saw %d requests, want 1 (one stored entry for both)", n)
	}
	for _, path := range []string{"/big", "/live/streamed"} {
		resp, body = e.get(t, path, "Host", "api.example", "Accept", "application/xml")
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.HasPrefix(body, "{") {
			t.Errorf("%s: got %s %q, want the JSON untouched", path, resp.Header.Get("Content-Type"), body)
		}
	}
}
