package access

import "time"

// InWeeklyWindow reports whether now falls in a weekly recurring window of
// wall-clock time: from and to are minutes since midnight in loc (to in
// 1..1440, from != to%1440), days are indexed by time.Weekday and name the
// days the window opens. A window that crosses midnight belongs to the day
// it opens, so its early-morning part checks the previous day. The clock
// is read in loc (time.Time.In applies its daylight saving rules), so a
// window keeps to the local clock all year. The forward proxy's rules
// (edge/forward/rules) share it, so both read windows alike.
func InWeeklyWindow(now time.Time, loc *time.Location, days *[7]bool, from, to int) bool {
	t := now.In(loc)
	m := t.Hour()*60 + t.Minute()
	d := t.Weekday()
	if from < to {
		return days[d] && from <= m && m < to
	}
	yesterday := (d + 6) % 7
	return (days[d] && m >= from) || (days[yesterday] && m < to)
}
