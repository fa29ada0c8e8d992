package origin

import (
	"math"
	"slices"
)

// balanceKey is what pick hashes for out under p's algorithm: the client's
// address under client_ip_hash (the one the edge resolved through its
// trusted proxies, else the socket peer), the cache key otherwise.
func (p *Pool) balanceKey(out *Outbound) string {
	if p.algo != algClientIPHash {
		return out.Key
	}
	if out.RealClientIP != "" {
		return out.RealClientIP
	}
	return clientAddr(out.ClientIP)
}

// pick returns the server for a request with balance key key, never one that
// is down, ejected or in tried (the servers this request already failed
// on); nil when no server is left. It does not allocate.
func (p *Pool) pick(key string, tried []*upstream) *upstream {
	now := p.now().UnixNano()
	switch p.algo {
	case algWeightedRoundRobin:
		return p.pickWeighted(now, tried)
	case algLeastConn:
		return p.pickLeastConn(now, tried)
	case algConsistentHash, algClientIPHash:
		return p.pickHash(key, now, tried)
	default:
		return p.pickRoundRobin(now, tried)
	}
}

// usable reports whether up may take this request.
func usable(up *upstream, now int64, tried []*upstream) bool {
	return up.available(now) && !slices.Contains(tried, up)
}

// start returns the next round-robin position.
func (p *Pool) start() int {
	return int((p.next.Add(1) - 1) % uint64(len(p.servers)))
}

// pickRoundRobin takes the servers in turn, skipping unusable ones.
func (p *Pool) pickRoundRobin(now int64, tried []*upstream) *upstream {
	n, start := len(p.servers), p.start()
	for i := range n {
		if up := p.servers[(start+i)%n]; usable(up, now, tried) {
			return up
		}
	}
	return nil
}

// pickWeighted is nginx's smooth weighted round robin: every usable server
// gains its weight, the highest current weight wins and pays back the total.
// Over any window of sum-of-weights picks each server gets exactly its
// share, interleaved rather than in bursts.
func (p *Pool) pickWeighted(now int64, tried []*upstream) *upstream {
	p.wrrMu.Lock()
	defer p.wrrMu.Unlock()
	var best *upstream
	total := 0
	for i, up := range p.servers {
		if !usable(up, now, tried) {
			continue
		}
		p.wrrCurrent[i] += up.weight
		total += up.weight
		if best == nil || p.wrrCurrent[i] > p.wrrCurrent[best.index] {
			best = up
		}
	}
	if best != nil {
		p.wrrCurrent[best.index] -= total
	}
	return best
}

// pickLeastConn takes the usable server with the fewest exchanges in flight
// per unit of weight; ties go to the first from a rotating start, so equal
// servers share the load in turn.
func (p *Pool) pickLeastConn(now int64, tried []*upstream) *upstream {
	n, start := len(p.servers), p.start()
	var best *upstream
	var bestLoad int64
	for i := range n {
		up := p.servers[(start+i)%n]
		if !usable(up, now, tried) {
			continue
		}
		// load/weight < bestLoad/bestWeight, without division.
		load := up.inFlight.Load()
		if best == nil || load*int64(best.weight) < bestLoad*int64(up.weight) {
			best, bestLoad = up, load
		}
	}
	return best
}

// pickHash is weighted rendezvous hashing of key: each server scores the key
// independently and the highest usable score wins, so removing (or
// ejecting) a server moves only the keys it held, adding one takes about
// its share (1/n) from the others and moves nothing else, and every node
// agrees. A key whose server is down, ejected or already tried goes to its
// next-highest score, the same one every time: a stable fallback that
// returns to the first server once it is back. consistent_hash hashes the
// cache key, client_ip_hash the client's address (balanceKey).
func (p *Pool) pickHash(key string, now int64, tried []*upstream) *upstream {
	keyHash := hashString(key)
	var best *upstream
	var bestScore uint64
	var bestWeighted float64
	for _, up := range p.servers {
		if !usable(up, now, tried) {
			continue
		}
		s := score(keyHash, up.hash)
		if p.uniform {
			if best == nil || s > bestScore || (s == bestScore && up.hash < best.hash) {
				best, bestScore = up, s
			}
			continue
		}
		if w := weightedScore(s, up.weight); best == nil || w > bestWeighted {
			best, bestWeighted = up, w
		}
	}
	return best
}

// weightedScore is the weighted rendezvous score w / -ln(u), u being s mapped
// to (0, 1): a server of weight w wins a share w/Σw of the keys.
func weightedScore(s uint64, weight int) float64 {
	u := (float64(s>>11) + 0.5) / (1 << 53)
	return float64(weight) / -math.Log(u)
}
