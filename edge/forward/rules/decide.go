package rules

import (
	"net/netip"
	"slices"
	"time"
)

// decideRules runs the rules on r: the first rule whose conditions all
// hold decides, else Options.Default.
func (e *Engine) decideRules(r *Request, now time.Time) Decision {
	host := normalizeHost(r.Host)
	addr := r.Addr
	if !addr.IsValid() && e.c.needsAddr {
		addr, _ = literalAddr(host)
	}
	addr = addr.Unmap()
	client := r.Client.Unmap()
	sets := *e.lists.Load()
	for i := range e.c.rules {
		ru := &e.c.rules[i]
		ok, cat := e.match(ru, r, now, host, addr, client, sets)
		if !ok {
			continue
		}
		if cat < 0 {
			cat = e.categoryIndex(host, sets)
		}
		d := Decision{Allow: ru.allow, Rule: ru.name}
		if cat >= 0 {
			d.Category = e.c.catNames[cat]
		}
		return d
	}
	return Decision{Allow: !e.c.defaultDeny, Rule: DefaultRule, Category: e.category(host, sets)}
}

// literalAddr is the address host spells, when it is an IP literal
// without a zone.
func literalAddr(host string) (netip.Addr, bool) {
	if !maybeIP(host) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// needsAddr is NeedsAddrFor.
func (e *Engine) needsAddr(r *Request, now time.Time) bool {
	if !e.c.needsAddr || r.Addr.IsValid() {
		return false
	}
	host := normalizeHost(r.Host)
	if _, ok := literalAddr(host); ok {
		return false // decideRules reads the address from the host
	}
	client := r.Client.Unmap()
	sets := *e.lists.Load()
	for i := range e.c.rules {
		ru := &e.c.rules[i]
		if ok, _ := e.matchBesidesDest(ru, r, now, host, client, sets); ok {
			return len(ru.dest) > 0
		}
	}
	return false
}

// match checks ru's conditions, cheapest first. It returns the index of
// the category that matched, or -1.
func (e *Engine) match(ru *rule, r *Request, now time.Time, host string, addr, client netip.Addr, sets fileSets) (bool, int) {
	ok, cat := e.matchBesidesDest(ru, r, now, host, client, sets)
	if !ok || len(ru.dest) > 0 && !inNetworks(ru.dest, addr) {
		return false, -1
	}
	return true, cat
}

// matchBesidesDest is match without the destination networks, the one
// condition that needs the destination's address.
func (e *Engine) matchBesidesDest(ru *rule, r *Request, now time.Time, host string, client netip.Addr, sets fileSets) (bool, int) {
	if len(ru.ports) > 0 && !ru.ports.Contains(r.Port) {
		return false, -1
	}
	if len(ru.clients) > 0 && !inNetworks(ru.clients, client) {
		return false, -1
	}
	if len(ru.users) > 0 && (r.User == "" || !slices.Contains(ru.users, r.User)) {
		return false, -1
	}
	if len(ru.groups) > 0 && !e.inGroups(ru.groups, r) {
		return false, -1
	}
	if len(ru.methods) > 0 && !slices.Contains(ru.methods, r.Method) {
		return false, -1
	}
	if ru.win != nil && !ru.win.inside(now) {
		return false, -1
	}
	cat := -1
	if ru.domains != nil || len(ru.cats) > 0 {
		hit := ru.domains.match(host)
		for _, c := range ru.cats {
			if hit {
				break
			}
			if e.inCategory(c, host, sets) {
				hit, cat = true, c
			}
		}
		if !hit {
			return false, -1
		}
	}
	return true, cat
}

func (e *Engine) inCategory(c int, host string, sets fileSets) bool {
	if e.c.catInline[c].match(host) {
		return true
	}
	for _, s := range sets[c] {
		if s.match(host) {
			return true
		}
	}
	return false
}

// categoryIndex is the first category, by name, that lists host; -1 when
// none does.
func (e *Engine) categoryIndex(host string, sets fileSets) int {
	for c := range e.c.catNames {
		if e.inCategory(c, host, sets) {
			return c
		}
	}
	return -1
}

func (e *Engine) category(host string, sets fileSets) string {
	if c := e.categoryIndex(host, sets); c >= 0 {
		return e.c.catNames[c]
	}
	return ""
}

// Category returns the category of host as Decision.Category would name
// it when no rule matched through a category; "" when none lists it.
func (e *Engine) Category(host string) string {
	return e.category(normalizeHost(host), *e.lists.Load())
}

func (e *Engine) inGroups(groups []string, r *Request) bool {
	for _, g := range groups {
		if slices.Contains(r.Groups, g) {
			return true
		}
		if r.User != "" && slices.Contains(e.c.groups[g], r.User) {
			return true
		}
	}
	return false
}

func inNetworks(ps []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("")
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maybeIP reports whether h may be an IP literal, so that a host name
// never pays for a failed parse (its error allocates): IPv6 literals have
// a colon, IPv4 ones only digits and dots.
func maybeIP(h string) bool {
	for i := 0; i < len(h); i++ {
		if c := h[i]; c == ':' {
			return true
		} else if c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return h != ""
}
