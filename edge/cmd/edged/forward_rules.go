package main

import (
	"reflect"
	"sync/atomic"
	"time"

	"edged/edge/forward"
	"edged/edge/forward/rules"
)

// liveRules are the forward proxy's access rules, replaced whole when a
// reload changes forward.rules (as Squid's reconfigure reloads its ACLs,
// without the restart that would cut every open tunnel). The proxy takes
// the current engine (Current) as a request arrives and asks it every
// question about that request: a switch while it is judged never has the
// old engine say no address is needed and the new one decide without it.
// New rules start their limits afresh (full request and bandwidth
// buckets), as a reloaded route's rate limit does; tunnels already open
// keep the bandwidth limiter they were given.
type liveRules struct {
	cur atomic.Pointer[ruleSet]
}

// ruleSet is one engine and the options it was built from, so that a
// reload tells a change of the rules from a change of their list files.
type ruleSet struct {
	opts   rules.Options
	engine *rules.Engine
}

var _ forward.LiveRules = (*liveRules)(nil)

func newLiveRules(opts rules.Options, e *rules.Engine) *liveRules {
	l := &liveRules{}
	l.cur.Store(&ruleSet{opts: opts, engine: e})
	return l
}

// Decide implements forward.Rules with the current engine.
func (l *liveRules) Decide(req forward.RuleRequest, now time.Time) forward.RuleDecision {
	return l.cur.Load().engine.Decide(req, now)
}

// Current implements forward.LiveRules: the engine in force, which one
// request asks all its questions.
func (l *liveRules) Current() forward.Rules { return l.cur.Load().engine }

// NeedsAddrFor implements forward.Rules with the current engine.
func (l *liveRules) NeedsAddrFor(req forward.RuleRequest, now time.Time) bool {
	return l.cur.Load().engine.NeedsAddrFor(req, now)
}

// changed reports whether opts differ from the current rules'.
func (l *liveRules) changed(opts rules.Options) bool {
	return !reflect.DeepEqual(l.cur.Load().opts, opts)
}

// reloadLists re-reads the current engine's changed list files.
func (l *liveRules) reloadLists() error { return l.cur.Load().engine.Reload() }

// use makes e, built from opts, the current engine, and stops the one it
// replaces watching its list files.
func (l *liveRules) use(opts rules.Options, e *rules.Engine) {
	old := l.cur.Swap(&ruleSet{opts: opts, engine: e})
	_ = old.engine.Close()
}

// Close stops the current engine watching its list files.
func (l *liveRules) Close() error { return l.cur.Load().engine.Close() }
