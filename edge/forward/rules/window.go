package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"edged/edge/access"
)

// window is a compiled Window.
type window struct {
	days     [7]bool // indexed by time.Weekday
	from, to int     // minutes since midnight; to in 1..1440
	loc      *time.Location
}

// inside reports whether now falls in the window, read as edge/access
// reads its windows: on the local clock of the window's zone (so "09:00"
// is nine in winter and in summer; on the day clocks go forward a window
// over the skipped hour is shorter, on the day they go back one over the
// repeated hour is longer), a window that crosses midnight belonging to
// the day it opens.
func (w *window) inside(now time.Time) bool {
	return access.InWeeklyWindow(now, w.loc, &w.days, w.from, w.to)
}

// compileWindow checks w, naming fields under field.
func compileWindow(p *problems, field string, w *Window) *window {
	cw := &window{loc: time.UTC}
	if w.Zone != "" {
		loc, err := time.LoadLocation(w.Zone)
		if err != nil || strings.EqualFold(w.Zone, "local") {
			// "Local" would make the rule depend on the host's TZ setting.
			p.add(field+".zone", "%q is not an IANA time zone name (e.g. \"Europe/Berlin\", \"UTC\")", w.Zone)
		} else {
			cw.loc = loc
		}
	}
	from, err := parseClock(w.From, false)
	if err != nil {
		p.add(field+".from", "%v", err)
	}
	to, err2 := parseClock(w.To, true)
	if err2 != nil {
		p.add(field+".to", "%v", err2)
	}
	// "09:00" to "09:00" could mean no time or the whole day; "00:00" to
	// "24:00" says the whole day (of the listed days) and is taken.
	if err == nil && err2 == nil && from == to {
		p.add(field+".to", "equals from (%q): an empty or a whole day is ambiguous; write \"00:00\" to \"24:00\" for whole days, or leave time out for always", w.From)
	}
	cw.from, cw.to = from, to
	for i, d := range w.Days {
		days, ok := parseDays(d)
		if !ok {
			p.add(fmt.Sprintf("%s.days[%d]", field, i), "%q: want mon, tue, wed, thu, fri, sat, sun, weekdays or weekend", d)
		}
		for j, on := range days {
			cw.days[j] = cw.days[j] || on
		}
	}
	if len(w.Days) == 0 {
		cw.days = [7]bool{true, true, true, true, true, true, true}
	}
	return cw
}

// parseDays reads one entry of Window.Days.
func parseDays(s string) ([7]bool, bool) {
	var d [7]bool
	switch strings.ToLower(s) {
	case "weekdays":
		for i := time.Monday; i <= time.Friday; i++ {
			d[i] = true
		}
		return d, true
	case "weekend":
		d[time.Saturday], d[time.Sunday] = true, true
		return d, true
	}
	for i := time.Sunday; i <= time.Saturday; i++ {
		name := strings.ToLower(i.String())
		if l := strings.ToLower(s); l == name || l == name[:3] {
			d[i] = true
			return d, true
		}
	}
	return d, false
}

// parseClock parses "HH:MM" (24-hour) into minutes since midnight;
// "24:00" only when end is true.
func parseClock(s string, end bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) != 2 || len(mm) != 2 || !digits(hh) || !digits(mm) {
		return 0, fmt.Errorf("%q: want HH:MM, 24-hour", s)
	}
	h, _ := strconv.Atoi(hh)
	m, _ := strconv.Atoi(mm)
	switch {
	case h == 24 && m == 0 && end:
		return 24 * 60, nil
	case h > 23 || m > 59:
		return 0, fmt.Errorf("%q: out of range (00:00 to 23:59, or 24:00 as an end)", s)
	}
	return h*60 + m, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
