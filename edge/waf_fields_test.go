package edge

import (
	"net/http"
	"strings"
	"testing"
)

// Each attack class the CRS blocks at paranoia 1, in each place a client
// can put it: the query, a header, a cookie and a form body. Those in a
// header or a cookie go to a URL that is cached, right after a clean
// request to it was a hit: the cache never answers for the WAF.
func TestWAFBlocksAttacksInEveryField(t *testing.T) {
	const (
		sqli      = "1' OR '1'='1"
		sqliQuery = "1%27%20OR%20%271%27%3D%271"
		xss       = "<script>alert(1)</script>"
		xssQuery  = "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
		trav      = "../../../../etc/passwd"
		travQuery = "..%2f..%2f..%2f..%2fetc%2fpasswd"
	)
	formBody := func(v string) string {
		return "q=" + strings.NewReplacer("'", "%27", " ", "+", "=", "%3D", "<", "%3C", ">", "%3E", "/", "%2F").Replace(v)
	}
	cases := []struct {
		name, method, target string
		header               http.Header
		body                 string
		rule                 string
	}{
		{"sqli in the query", "GET", "/item?id=" + sqliQuery, browser(), "", "942100"},
		{"sqli in Referer", "GET", "/page", withField(browser(), "Referer", sqli), "", "942100"},
		{"sqli in User-Agent", "GET", "/page", withField(browser(), "User-Agent", "Mozilla/5.0 "+sqli), "", "942100"},
		{"sqli in a cookie", "GET", "/page", withField(browser(), "Cookie", "session=abc; id="+sqli), "", "942100"},
		{"sqli in a form body", "POST", "/login", form, formBody(sqli), "942100"},
		{"xss in the query", "GET", "/find?q=" + xssQuery, browser(), "", "941100"},
		{"xss in User-Agent", "GET", "/page", withField(browser(), "User-Agent", "Mozilla/5.0 "+xss), "", "941100"},
		{"xss in a cookie", "GET", "/page", withField(browser(), "Cookie", "session=abc; q="+xss), "", "941100"},
		{"xss in a form body", "POST", "/comment", form, formBody(xss), "941100"},
		{"traversal in the query", "GET", "/download?file=" + travQuery, browser(), "", "930100"},
		{"traversal in a header", "GET", "/page", withField(browser(), "X-File", trav), "", "930110"},
		{"traversal in a cookie", "GET", "/page", withField(browser(), "Cookie", "session=abc; f="+trav), "", "930110"},
		{"traversal in a form body", "POST", "/download", form, formBody(trav), "930110"},
	}
	e := newWAFEdge(t)
	if resp, _ := e.raw(t, "GET", "/page", browser(), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("clean fill of /page: %d", resp.StatusCode)
	}
	fills := e.origin.requests.Load()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.target == "/page" {
				if resp, _ := e.raw(t, "GET", "/page", browser(), ""); !isHit(resp) {
					t.Fatalf("clean request: Cache-Status %q, want a hit", resp.Header.Get("Cache-Status"))
				}
			}
			resp, _ := e.raw(t, c.method, c.target, c.header, c.body)
			wantStatus(t, resp, http.StatusForbidden, "detail=waf")
			line := logLine(t, e.logs.String(), resp.Header.Get("X-Request-Id"))
			if !strings.Contains(line, c.rule) || !strings.Contains(line, "949110") {
				t.Errorf("log line %s: want rule %s and the anomaly score's 949110", line, c.rule)
			}
		})
	}
	if n := e.origin.requests.Load(); n != fills {
		t.Errorf("the origin saw %d requests after the fill, want none", n-fills)
	}
}
