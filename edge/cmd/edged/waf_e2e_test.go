package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEndToEndWAF runs the binary with a blocking WAF on one route and a
// detecting one on another: the file's waf section reaches the handler,
// blocked requests are logged with their rules, and the counter is on
// /metrics.
func TestEndToEndWAF(t *testing.T) {
	web := namedOrigin(t, "web")
	cfg := filepath.Join(t.TempDir(), "edged.yaml")
	conf := fmt.Sprintf(`listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
log: {access: false}
upstream: {origin: %s}
sites:
  - name: shop
    hosts: [shop.test]
    routes:
      - path: /
        waf: {mode: block, paranoia_level: 1}
      - path: /watch/
        waf: {mode: detect}
`, t.TempDir(), web.URL)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := runEdged(t, "-config", cfg)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	const sqli = "?id=1%27%20OR%20%271%27%3D%271"
	browser := []string{"Host", "shop.test", "User-Agent", "Mozilla/5.0", "Accept", "text/html"}
	if resp, body := fetch(t, p.public+"/item", browser...); resp.StatusCode != 200 || body != "web shop.test /item\n" {
		t.Errorf("clean GET: %d %q", resp.StatusCode, body)
	}
	resp, body := fetch(t, p.public+"/item"+sqli, browser...)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "request id") {
		t.Errorf("SQL injection: %d %q, want 403 with the request id", resp.StatusCode, body)
	}
	if resp, _ := fetch(t, p.public+"/watch/item"+sqli, browser...); resp.StatusCode != 200 {
		t.Errorf("SQL injection on the detecting route: %d, want 200", resp.StatusCode)
	}
	_, metrics := fetch(t, p.admin+"/metrics")
	for _, want := range []string{
		`edged_waf_requests_total{action="blocked",route="/",site="shop"} 1`,
		`edged_waf_requests_total{action="detected",route="/watch/",site="shop"} 1`,
		`edged_waf_requests_total{action="pass",route="/",site="shop"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, `"msg":"waf blocked a request"`) || !strings.Contains(logs, "942100") || !strings.Contains(logs, `"msg":"waf detected an attack"`) {
		t.Errorf("stderr lacks the block and the detection with rule 942100:\n%s", logs)
	}
}
