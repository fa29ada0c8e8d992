package forward

import (
	"io"
	"net/http"
	"testing"
	"time"

	"edged/edge/forward/rules"
)

// TestRulesEngineThroughTheProxy: the real rules engine behind the proxy,
// with a fake clock: the social category is refused on a weekday at
// 10:00 in Berlin (403 naming the rule), allowed on Sunday, and the
// request rate limit answers 429.
func TestRulesEngineThroughTheProxy(t *testing.T) {
	o := newOrigin(t, false, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	engine, err := rules.New(rules.Options{
		Categories: map[string]rules.Category{"social": {Domains: []string{"127.0.0.1"}}},
		List: []rules.Rule{{Name: "social-office-hours", Action: "deny", Categories: []string{"social"},
			Time: &rules.Window{Days: []string{"weekdays"}, From: "09:00", To: "17:00", Zone: "Europe/Berlin"}}},
		Limits: rules.Limits{Rate: 1, Burst: 2},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, berlin) // a Monday
	s := newStack(t, stackConfig{opts: Options{Rules: engine, Now: func() time.Time { return now }}})
	resp, _ := get(t, s.client(nil, "", ""), o.URL+"/")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get(RuleHeader) != "social-office-hours" {
		t.Errorf("Monday 10:00: %d %q", resp.StatusCode, resp.Header.Get(RuleHeader))
	}
	now = time.Date(2026, 12, 6, 10, 0, 0, 0, berlin) // Sunday
	for i := range 3 {
		resp, _ := get(t, s.client(nil, "", ""), o.URL+"/")
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests // a burst of 2, and the clock stands still
		}
		if resp.StatusCode != want {
			t.Errorf("Sunday request %d: %d, want %d (%s=%q)", i, resp.StatusCode, want, RuleHeader, resp.Header.Get(RuleHeader))
		}
	}
}
