package origin

// InheritHealth gives the servers p shares with prev (same URL) the verdict
// of prev's active health checks: a pool rebuilt by a configuration reload
// (a server added, a weight changed) then neither sends requests to a
// server prev had found down until its own checks fail too, nor, with
// Health.StartDown, refuses every server until its checks pass. Servers new
// to p start as configured. It applies only when both pools run active
// checks (without them a server is always up); call it before Start.
func (p *Pool) InheritHealth(prev *Pool) {
	if p.opts.Health.Path == "" || prev.opts.Health.Path == "" {
		return
	}
	verdict := make(map[string]bool, len(prev.servers))
	for _, up := range prev.servers {
		verdict[up.base] = up.up.Load()
	}
	for _, up := range p.servers {
		if isUp, ok := verdict[up.base]; ok {
			up.up.Store(isUp)
			up.metrics.setUp(isUp)
		}
	}
}
