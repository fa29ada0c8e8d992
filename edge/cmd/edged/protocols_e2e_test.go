package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestProtocolsEndToEnd runs a node from a configuration with a WebSocket
// route and an API route with path captures and JSON→XML: the settings
// reach the routes through the public listener (strict framing included).
func TestProtocolsEndToEnd(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/live/chat" {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, msg, err := c.Read(context.Background())
				if err != nil || c.Write(context.Background(), typ, append([]byte("echo "), msg...)) != nil {
					return
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, `{"path":%q,"user":%q}`, r.URL.Path, r.Header.Get("X-User-Id"))
	}))
	t.Cleanup(origin.Close)
	cfg := parseNodeConfig(t, fmt.Sprintf(`
upstream: {origin: %s}
sites:
  - name: api
    hosts: [api.test]
    routes:
      - path: /
      - path: /live/
        websocket: {enabled: true, idle_timeout: 30s, max_per_client: 2}
      - path: /v1/users/{id}
        upstream_path: /users/{id}
        request_headers: {set: {X-User-Id: "{id}"}}
        transform: {json_to_xml: true}
`, origin.URL))
	f := startFleetNode(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.public, "http")+"/live/chat", &websocket.DialOptions{Host: "api.test"})
	if err != nil {
		t.Fatalf("websocket through the node: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "echo hi" {
		t.Fatalf("echo: %q, %v", msg, err)
	}

	req, _ := http.NewRequest(http.MethodGet, f.public+"/v1/users/42", nil)
	req.Host = "api.test"
	req.Header.Set("Accept", "application/xml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") || !strings.Contains(string(body), "<path>/users/42</path><user>42</user>") {
		t.Errorf("API route answered %s %q", resp.Header.Get("Content-Type"), body)
	}
}
