package rules

import (
	"testing"
	"time"
)

// socialHours is the example: deny the social category 09:00–17:00
// on weekdays, in Berlin.
func socialHours(w Window) Options {
	return Options{
		Categories: map[string]Category{"social": {Domains: []string{".social.test"}}},
		List:       []Rule{{Name: "social-hours", Action: ActionDeny, Categories: []string{"social"}, Time: &w}},
	}
}

func TestWindowOfficeHours(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	on := func(y int, m time.Month, d, hh, mm int) time.Time { return time.Date(y, m, d, hh, mm, 0, 0, berlin) }
	social := host("www.social.test")
	runDecide(t, socialHours(Window{Days: []string{"weekdays"}, From: "09:00", To: "17:00", Zone: "Europe/Berlin"}), []decideCase{
		{name: "Monday 08:59", req: social, now: on(2026, 1, 5, 8, 59), allow: true, rule: DefaultRule, category: "social"},
		{name: "Monday 09:00", req: social, now: on(2026, 1, 5, 9, 0), rule: "social-hours", category: "social"},
		{name: "Friday 16:59", req: social, now: on(2026, 1, 9, 16, 59), rule: "social-hours", category: "social"},
		{name: "Friday 17:00", req: social, now: on(2026, 1, 9, 17, 0), allow: true, rule: DefaultRule, category: "social"},
		{name: "Saturday noon", req: social, now: on(2026, 1, 10, 12, 0), allow: true, rule: DefaultRule, category: "social"},
		// 09:30 UTC is 10:30 in Berlin in winter: the zone, not UTC, counts.
		{name: "UTC 08:30 is Berlin 09:30", req: social, now: time.Date(2026, 1, 5, 8, 30, 0, 0, time.UTC), rule: "social-hours", category: "social"},
		{name: "other host", req: host("golang.org"), now: on(2026, 1, 5, 10, 0), allow: true, rule: DefaultRule},
	})
}

// TestWindowAcrossMidnight: a window that crosses midnight belongs to the
// day it opens.
func TestWindowAcrossMidnight(t *testing.T) {
	utc := func(d, hh, mm int) time.Time { return time.Date(2026, 1, d, hh, mm, 0, 0, time.UTC) } // Jan 9 2026 is a Friday
	social := host("a.social.test")
	runDecide(t, socialHours(Window{Days: []string{"fri"}, From: "22:00", To: "06:00"}), []decideCase{
		{name: "Friday 21:59", req: social, now: utc(9, 21, 59), allow: true, rule: DefaultRule, category: "social"},
		{name: "Friday 22:00", req: social, now: utc(9, 22, 0), rule: "social-hours", category: "social"},
		{name: "Saturday 05:59", req: social, now: utc(10, 5, 59), rule: "social-hours", category: "social"},
		{name: "Saturday 06:00", req: social, now: utc(10, 6, 0), allow: true, rule: DefaultRule, category: "social"},
		{name: "Saturday 23:00", req: social, now: utc(10, 23, 0), allow: true, rule: DefaultRule, category: "social"},
		{name: "Friday 03:00 (Thursday's night)", req: social, now: utc(9, 3, 0), allow: true, rule: DefaultRule, category: "social"},
	})
	runDecide(t, socialHours(Window{From: "18:00", To: "24:00"}), []decideCase{
		{name: "to 24:00: 23:59", req: social, now: utc(5, 23, 59), rule: "social-hours", category: "social"},
		{name: "to 24:00: midnight", req: social, now: utc(6, 0, 0), allow: true, rule: DefaultRule, category: "social"},
	})
}

// TestWindowDST: the window follows the local clock through both daylight
// saving changes. Berlin went to summer time on 2026-03-29 at 02:00 (01:00
// UTC) and back on 2026-10-25 at 03:00 (01:00 UTC).
func TestWindowDST(t *testing.T) {
	utc := func(m time.Month, d, hh, mm int) time.Time { return time.Date(2026, m, d, hh, mm, 0, 0, time.UTC) }
	social := host("a.social.test")
	runDecide(t, socialHours(Window{Days: []string{"weekdays"}, From: "09:00", To: "17:00", Zone: "Europe/Berlin"}), []decideCase{
		// Friday before the change (CET, UTC+1): 09:00 local is 08:00 UTC.
		{name: "winter: 07:59 UTC", req: social, now: utc(3, 27, 7, 59), allow: true, rule: DefaultRule, category: "social"},
		{name: "winter: 08:00 UTC", req: social, now: utc(3, 27, 8, 0), rule: "social-hours", category: "social"},
		// Monday after (CEST, UTC+2): 09:00 local is 07:00 UTC.
		{name: "summer: 06:59 UTC", req: social, now: utc(3, 30, 6, 59), allow: true, rule: DefaultRule, category: "social"},
		{name: "summer: 07:00 UTC", req: social, now: utc(3, 30, 7, 0), rule: "social-hours", category: "social"},
		{name: "summer: 15:00 UTC is 17:00", req: social, now: utc(3, 30, 15, 0), allow: true, rule: DefaultRule, category: "social"},
		// Monday after the change back (CET again).
		{name: "autumn: 07:30 UTC is 08:30", req: social, now: utc(10, 26, 7, 30), allow: true, rule: DefaultRule, category: "social"},
		{name: "autumn: 08:00 UTC is 09:00", req: social, now: utc(10, 26, 8, 0), rule: "social-hours", category: "social"},
	})
	// A window over the skipped hour is shorter that night, one over the
	// repeated hour longer: what the local clock shows.
	runDecide(t, socialHours(Window{From: "02:00", To: "03:00", Zone: "Europe/Berlin"}), []decideCase{
		{name: "spring: 00:59 UTC is 01:59 CET", req: social, now: utc(3, 29, 0, 59), allow: true, rule: DefaultRule, category: "social"},
		{name: "spring: 01:00 UTC is 03:00 CEST", req: social, now: utc(3, 29, 1, 0), allow: true, rule: DefaultRule, category: "social"},
		{name: "autumn: 00:30 UTC is 02:30 CEST", req: social, now: utc(10, 25, 0, 30), rule: "social-hours", category: "social"},
		{name: "autumn: 01:30 UTC is 02:30 CET", req: social, now: utc(10, 25, 1, 30), rule: "social-hours", category: "social"},
		{name: "autumn: 02:00 UTC is 03:00 CET", req: social, now: utc(10, 25, 2, 0), allow: true, rule: DefaultRule, category: "social"},
	})
}

func TestParseDays(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []time.Weekday
	}{
		{"mon", []time.Weekday{time.Monday}},
		{"Sunday", []time.Weekday{time.Sunday}},
		{"weekdays", []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}},
		{"WEEKEND", []time.Weekday{time.Saturday, time.Sunday}},
	} {
		got, ok := parseDays(tc.in)
		var want [7]bool
		for _, d := range tc.want {
			want[d] = true
		}
		if !ok || got != want {
			t.Errorf("parseDays(%q) = %v, %v; want %v", tc.in, got, ok, want)
		}
	}
	if _, ok := parseDays("mo"); ok {
		t.Error(`parseDays("mo") accepted`)
	}
}
