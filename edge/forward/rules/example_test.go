package rules_test

import (
	"fmt"
	"net/netip"
	"time"

	"edged/edge/forward/rules"
)

// The issue's example: deny the social category 09:00–17:00 on weekdays,
// in the office's time zone.
func Example() {
	e, err := rules.New(rules.Options{
		Categories: map[string]rules.Category{"social": {Domains: []string{".facebook.com"}}},
		List: []rules.Rule{{
			Name: "social-office-hours", Action: rules.ActionDeny, Categories: []string{"social"},
			Time: &rules.Window{Days: []string{"weekdays"}, From: "09:00", To: "17:00", Zone: "UTC"},
		}},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	req := rules.Request{Client: netip.MustParseAddr("10.0.0.7"), Host: "www.facebook.com", Port: 443, Method: "CONNECT"}
	for _, now := range []time.Time{
		time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC), // a Monday morning
		time.Date(2026, 1, 5, 18, 0, 0, 0, time.UTC), // the evening
	} {
		d := e.Decide(req, now)
		fmt.Println(d.Allow, d.Rule, d.Category)
	}
	// Output:
	// false social-office-hours social
	// true default social
}

// Validation reports every problem, each under its YAML path.
func ExampleOptions_Validate() {
	err := rules.Options{List: []rules.Rule{{Name: "r", Action: "block", Time: &rules.Window{From: "9:00", To: "17:00"}}}}.Validate()
	fmt.Println(err)
	// Output:
	// rules: list[0].action: "block": want allow or deny; list[0].time.from: "9:00": want HH:MM, 24-hour
}
