// Package settingsdiff names the settings of something a node shares with
// others (a JetStream stream, say) that differ from the node's own, for a
// log line: "max_age 168h0m0s (this node: 1h0m0s), replicas 3 (this node:
// 1)". The purge bus and the ACME key-value storage both log it when NATS
// does not let them set a stream's settings; edge may not import purge, so
// the wording lives here, once.
//
// It imports nothing of edged's: leaf packages may use it (DESIGN.md,
// shared internals).
package settingsdiff

import (
	"fmt"
	"strings"
)

// Diff collects the settings that differ, in the order added.
type Diff struct{ d []string }

// Add records the setting name, with the value found (have) and this
// node's (want), when differs.
func (x *Diff) Add(differs bool, name string, have, want any) {
	if differs {
		x.d = append(x.d, fmt.Sprintf("%s %v (this node: %v)", name, have, want))
	}
}

// String is the settings recorded, joined by ", "; "" when none differ.
func (x *Diff) String() string { return strings.Join(x.d, ", ") }
