package forward

import "edged/edge/forward/rules"

// RuleRequest is what the proxy knows when it asks its Rules
// (rules.Request: client, user, groups, host, port, method, address).
type RuleRequest = rules.Request

// RuleDecision is the Rules' answer (rules.Decision); the zero value denies.
type RuleDecision = rules.Decision

var _ Rules = (*rules.Engine)(nil)
