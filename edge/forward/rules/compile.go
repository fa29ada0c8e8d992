package rules

import (
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"edged/internal/portset"
)

// rule is a compiled Rule. Empty conditions are nil or empty and match
// everything.
type rule struct {
	name    string
	allow   bool
	domains *domainSet
	cats    []int // indices into Engine.catNames
	dest    []netip.Prefix
	ports   portset.Set
	clients []netip.Prefix
	users   []string
	groups  []string
	methods []string
	win     *window
}

// compiled is Options checked and turned into the forms Decide uses;
// list files are not read here.
type compiled struct {
	rules       []rule
	defaultDeny bool
	catNames    []string            // sorted
	catInline   []*domainSet        // by category index
	catFiles    [][]string          // by category index: paths
	groups      map[string][]string // group → users
	reload      time.Duration
	limits      limitSpec
	needsAddr   bool // some rule has dest_networks
}

// Validate checks o without reading list files and returns every problem
// as an [Errors] value of [FieldError]s, nil when there is none.
func (o Options) Validate() error {
	_, err := compile(&o)
	return err
}

// Check is Validate, then reads and parses every list file; a file that
// cannot be read or parsed is a FieldError naming it
// ("categories.social.files[0]") with the line. It returns [Errors].
func (o Options) Check() error {
	c, err := compile(&o)
	p := &problems{}
	if err != nil {
		// The files are read all the same: a problem elsewhere in the
		// rules must not hide a missing or bad list (every problem at once).
		p.list = append(p.list, err.(Errors)...)
	}
	for _, f := range c.listFiles() {
		if _, err := f.read(); err != nil {
			p.add(f.field, "%v", err)
		}
	}
	return p.err()
}

func compile(o *Options) (*compiled, error) {
	p := &problems{}
	c := &compiled{groups: o.Groups, reload: DefaultReloadInterval}
	switch o.Default {
	case "", ActionAllow:
	case ActionDeny:
		c.defaultDeny = true
	default:
		p.add("default", "%q: want allow or deny", o.Default)
	}
	if o.ReloadInterval != "" {
		c.reload = positiveDuration(p, "reload_interval", o.ReloadInterval)
	}
	c.catNames = slices.Sorted(maps.Keys(o.Categories))
	for _, name := range c.catNames {
		cat := o.Categories[name]
		field := "categories." + name
		if !validName(name) {
			p.add(field, "category name %q: letters, digits, -, _ and . only", name)
		}
		c.catInline = append(c.catInline, compileDomains(p, field+".domains", cat.Domains))
		for i, f := range cat.Files {
			if f == "" {
				p.add(fmt.Sprintf("%s.files[%d]", field, i), "empty file name")
			}
		}
		if len(cat.Domains) == 0 && len(cat.Files) == 0 {
			p.add(field, "names no domains and no files")
		}
		c.catFiles = append(c.catFiles, cat.Files)
	}
	for _, g := range slices.Sorted(maps.Keys(o.Groups)) { // errors in a stable order
		for i, u := range o.Groups[g] {
			if u == "" {
				p.add(fmt.Sprintf("groups.%s[%d]", g, i), "empty user name")
			}
		}
	}
	seen := map[string]int{}
	for i := range o.List {
		field := fmt.Sprintf("list[%d]", i)
		r := compileRule(p, field, &o.List[i], c)
		if j, dup := seen[r.name]; dup && r.name != "" {
			p.add(field+".name", "%q is also the name of list[%d]: names must be unique, they say which rule decided", r.name, j)
		}
		seen[r.name] = i
		c.rules = append(c.rules, r)
		c.needsAddr = c.needsAddr || len(r.dest) > 0
	}
	c.limits = compileLimits(p, "limits", &o.Limits)
	// c is returned with its problems too, for Check to read the list
	// files of; nothing else uses a c that came with an error.
	return c, p.err()
}

func compileRule(p *problems, field string, r *Rule, c *compiled) rule {
	cr := rule{name: r.Name}
	switch {
	case r.Name == "":
		p.add(field+".name", "required: it names the rule in the 403 page, logs and metrics")
	case slices.Contains(reservedNames, r.Name):
		p.add(field+".name", "%q is reserved: it names a decision no rule makes (one of %s)", r.Name, strings.Join(reservedNames, ", "))
	case !validName(r.Name):
		p.add(field+".name", "%q: letters, digits, -, _ and . only (it is sent in a header)", r.Name)
	}
	switch r.Action {
	case ActionAllow:
		cr.allow = true
	case ActionDeny:
	case "":
		p.add(field+".action", "required: allow or deny")
	default:
		p.add(field+".action", "%q: want allow or deny", r.Action)
	}
	if len(r.Domains) > 0 {
		cr.domains = compileDomains(p, field+".domains", r.Domains)
	}
	for i, name := range r.Categories {
		j, ok := slices.BinarySearch(c.catNames, name)
		if !ok {
			p.add(fmt.Sprintf("%s.categories[%d]", field, i), "%q is not defined under categories", name)
			continue
		}
		cr.cats = append(cr.cats, j)
	}
	cr.dest = compileNetworks(p, field+".dest_networks", r.DestNetworks)
	cr.clients = compileNetworks(p, field+".client_networks", r.ClientNetworks)
	cr.ports = portset.ParseList(r.Ports, func(i int, err error) { p.add(fmt.Sprintf("%s.ports[%d]", field, i), "%v", err) })
	for i, u := range r.Users {
		if u == "" {
			p.add(fmt.Sprintf("%s.users[%d]", field, i), "empty user name")
		}
	}
	cr.users = r.Users
	for i, g := range r.Groups {
		if g == "" {
			p.add(fmt.Sprintf("%s.groups[%d]", field, i), "empty group name")
		}
	}
	cr.groups = r.Groups
	for i, m := range r.Methods {
		switch up := strings.ToUpper(m); {
		case !validName(m):
			p.add(fmt.Sprintf("%s.methods[%d]", field, i), "%q: want a method name such as CONNECT or GET", m)
		case up != m && slices.Contains(standardMethods, up):
			// Methods are case-sensitive (RFC 9110 §9.1): "get" would
			// never match a GET, and the rule would never apply.
			p.add(fmt.Sprintf("%s.methods[%d]", field, i), "%q: methods are case-sensitive (RFC 9110 §9.1): write %s", m, up)
		}
	}
	cr.methods = r.Methods
	if r.Time != nil {
		cr.win = compileWindow(p, field+".time", r.Time)
	}
	return cr
}

// standardMethods are the methods of RFC 9110 §9 and PATCH (RFC 5789),
// whose lower-case spellings in a rule are mistakes.
var standardMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func compileDomains(p *problems, field string, list []string) *domainSet {
	s := newDomainSet()
	for i, d := range list {
		kind, name, err := parsePattern(d)
		if err != nil {
			p.add(fmt.Sprintf("%s[%d]", field, i), "%v", err)
			continue
		}
		s.add(kind, name)
	}
	return s
}

// compileNetworks reads CIDR prefixes or single addresses. IPv4-mapped
// IPv6 forms are unmapped, as addresses are before matching, so one rule
// covers dual-stack sockets.
func compileNetworks(p *problems, field string, list []string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range list {
		pre, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				p.add(fmt.Sprintf("%s[%d]", field, i), "%q: want a network (10.0.0.0/8, fd00::/8) or an address", s)
				continue
			}
			pre = netip.PrefixFrom(a, a.BitLen())
		}
		if pre != pre.Masked() {
			p.add(fmt.Sprintf("%s[%d]", field, i), "%q has host bits set: did you mean %s?", s, pre.Masked())
			continue
		}
		a := pre.Addr()
		if a.Is4In6() && pre.Bits() >= 96 {
			pre = netip.PrefixFrom(a.Unmap(), pre.Bits()-96)
		}
		out = append(out, pre)
	}
	return out
}

// validName is the alphabet of rule and category names: they appear in a
// response header and in metric labels, so no spaces or separators.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func positiveDuration(p *problems, field, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.add(field, "%q: want a positive Go duration (\"30s\", \"10m\")", s)
		return 0
	}
	return d
}

// parseBytes reads a byte count with an optional unit, as every size of
// the configuration is written: B, kB, MB, GB, TB (powers of 1000) or KiB,
// MiB, GiB, TiB (powers of 1024), in any letter case.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 {
		return 0, fmt.Errorf("%q: want a size such as 1MiB, 500kB or 65536", s)
	}
	v *= mult
	if v < 1 || v > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q: out of range (1 byte to 4 EiB)", s)
	}
	return int64(v), nil
}
