package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"edged/edge/forward"
)

// TestForwardSection: a forward node needs no upstream, its section
// decodes over the defaults, and it becomes forward.Options.
func TestForwardSection(t *testing.T) {
	c, err := Parse([]byte(`role: forward
forward:
  clients: [10.0.0.0/8, 192.168.1.7]
  connect_ports: [443, 8000-8999]
  http_ports: [80, "1025-65535"]
  via: false
  set_headers: {User-Agent: Anonymous}
  tunnels: {idle_timeout: 30s, max_per_client: 0}
  dial: {allow_networks: [10.20.0.0/16]}
  pac: {proxy: "proxy.corp:3128", direct: [intranet, "*.corp"]}
`), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if c.CacheName() != "edged-forward" {
		t.Errorf("CacheName = %q", c.CacheName())
	}
	o := c.ForwardOptions()
	if !slices.Equal(o.Clients, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")}) ||
		!slices.Equal(o.ConnectPorts, []string{"443", "8000-8999"}) || !slices.Equal(o.HTTPPorts, []string{"80", "1025-65535"}) || o.TunnelIdle != 30*time.Second || o.TunnelMax != time.Hour ||
		!o.NoTunnelLimit || o.SetHeaders["User-Agent"] != "Anonymous" || o.PAC.Proxy != "proxy.corp:3128" ||
		len(o.RemoveHeaders) != 5 {
		t.Errorf("ForwardOptions = %+v", o)
	}
	if c.Forward.Via {
		t.Error("via: false did not hold")
	}
	if d := c.ForwardDialer(); d.Timeout != 10*time.Second || len(d.Allow) != 1 {
		t.Errorf("ForwardDialer = %+v", d)
	}
}

// TestForwardPortDefaults: a forward section that names no ports gets
// forward's defaults, and an empty list allows none.
func TestForwardPortDefaults(t *testing.T) {
	c, err := Parse([]byte("role: forward\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := c.ForwardOptions()
	if !slices.Equal(o.ConnectPorts, forward.DefaultConnectPorts()) || !slices.Equal(o.HTTPPorts, forward.DefaultHTTPPorts()) {
		t.Errorf("default ports: connect %v, http %v", o.ConnectPorts, o.HTTPPorts)
	}
	c, err = Parse([]byte("role: forward\nforward: {connect_ports: [], http_ports: []}\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if o := c.ForwardOptions(); o.ConnectPorts == nil || len(o.ConnectPorts) != 0 || o.HTTPPorts == nil || len(o.HTTPPorts) != 0 {
		t.Errorf("empty lists: connect %#v, http %#v", o.ConnectPorts, o.HTTPPorts)
	}
}

// TestForwardErrors: each bad value is named with its line (line 1 is
// "role: forward").
func TestForwardErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(bad, []byte("alice:plaintext\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"forward:\n  clients: [10.0.0.0/33]\n", `f.yaml:3: forward.clients[0]: invalid network`},
		{"forward:\n  connect_ports: [0]\n", `f.yaml:3: forward.connect_ports[0]: "0": want a port (1-65535) or a range LOW-HIGH`},
		{"forward:\n  http_ports:\n    - 80\n    - 25-20\n", `f.yaml:5: forward.http_ports[1]: "25-20": want a port`},
		{"forward:\n  http_ports: [0x50]\n", `f.yaml:3: forward.http_ports[0]: "0x50": want a port`},
		{"forward:\n  remove_headers: ['bad name']\n", `f.yaml:3: forward.remove_headers[0]: "bad name" is not a field name`},
		{"forward:\n  tunnels:\n    idle_timeout: 0s\n", `f.yaml:4: forward.tunnels.idle_timeout: must be positive`},
		{"forward:\n  set_headers: {X-A: \"a\\nb\"}\n", `f.yaml:3: forward.set_headers.X-A: "X-A": "a\nb" is not a valid field`},
		{"forward:\n  tunnels:\n    max_duration: -1s\n", `f.yaml:4: forward.tunnels.max_duration: must be positive`},
		{"forward:\n  auth:\n    realm: 'a\"b'\n", `f.yaml:4: forward.auth.realm: "a\"b": not empty`},
		{"forward:\n  dial:\n    allow_networks: [nope]\n", `f.yaml:4: forward.dial.allow_networks[0]: invalid network`},
		{"forward:\n  pac:\n    direct: ['a b']\n", `f.yaml:4: forward.pac.direct[0]: want a host name`},
		{"forward:\n  rules:\n    list:\n      - action: deny\n", `f.yaml:5: forward.rules.list[0].name: required`},
		{"forward:\n  rules:\n    list:\n      - {name: a, action: deny, ports: ['0']}\n", `f.yaml:5: forward.rules.list[0].ports[0]`},
		{"forward:\n  rules:\n    list:\n      - {name: a, action: deny, methods: [CONNECT, post]}\n", `f.yaml:5: forward.rules.list[0].methods[1]: "post": methods are case-sensitive (RFC 9110 §9.1): write POST`},
		{"forward:\n  rules:\n    categories:\n      social: {files: [" + filepath.Join(dir, "missing.txt") + "]}\n", `f.yaml:5: forward.rules.categories.social.files[0]`},
		{"forward:\n  auth:\n    htpasswd: " + bad + "\n", `f.yaml:4: forward.auth.htpasswd: ` + bad + `:1: user "alice": not a bcrypt hash`},
	}
	for _, tt := range tests {
		c, err := Parse([]byte("role: forward\n"+tt.in), "f.yaml")
		if err == nil {
			err = c.Check()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestForwardListFileProblemsWithOthers: a missing or bad category list
// used to be reported only once every other rule was right (the rules'
// check stopped at their first problems), so edged -t took one run per
// kind of mistake; every problem comes at once.
func TestForwardListFileProblemsWithOthers(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "social.txt")
	if err := os.WriteFile(list, []byte("good.example\nbad name.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := "role: forward\nforward:\n  rules:\n    default: block\n    categories:\n" +
		"      social: {files: [" + list + ", " + filepath.Join(dir, "missing.txt") + "]}\n"
	err := parseAndCheck(in)
	for _, want := range []string{
		`f.yaml:4: forward.rules.default: "block": want allow or deny`,
		`f.yaml:6: forward.rules.categories.social.files[0]: ` + list + `: line 2: "bad name.example"`,
		`f.yaml:6: forward.rules.categories.social.files[1]: open ` + filepath.Join(dir, "missing.txt"),
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant %q", err, want)
		}
	}
}

// TestForwardMessagesInTheFilesTerms: a negative tunnels.max_per_client
// was reported twice, the second time as "must be at least 1
// (NoTunnelLimit turns the limit off)", a Go option the file has no word
// for (its 0 is no limit); a negative pool retries named NoRetries.
func TestForwardMessagesInTheFilesTerms(t *testing.T) {
	err := parseAndCheck("role: forward\nforward:\n  tunnels: {max_per_client: -1}\n")
	if err == nil || strings.Count(err.Error(), "max_per_client") != 1 || strings.Contains(err.Error(), "NoTunnelLimit") {
		t.Errorf("max_per_client -1: %v, want one problem in the file's terms", err)
	}
	err = parseAndCheck("pools:\n  a:\n    servers: [{url: 'http://127.0.0.1:2'}]\n    retries: -1\n" +
		"sites: [{name: s, hosts: [a.test], routes: [{path: /, pool: a}]}]\n")
	if want := "f.yaml:4: pools.a.retries: must not be negative (0 turns retries off), got -1"; err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "NoRetries") {
		t.Errorf("retries -1: %v, want %q", err, want)
	}
}

// TestForwardRoleMismatch: what one role would ignore of the other's
// fields is refused, naming the field and its line, rather than starting
// a node that is not what its file says (an edge believed to admit only
// forward.clients, a forward proxy believed to fetch from an origin).
func TestForwardRoleMismatch(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"forward section on the default role", "listen: 127.0.0.1:3128\nupstream: {origin: http://127.0.0.1:9000}\nforward:\n  clients: [10.0.0.0/8]\n",
			"f.yaml:4: forward: read only by role forward, and role is edge: set role: forward"},
		{"forward section on a shield", "role: shield\nupstream: {origin: http://127.0.0.1:9000}\nforward: {connect_ports: [443]}\n",
			"f.yaml:3: forward: read only by role forward, and role is shield"},
		{"origin on a forward proxy", "role: forward\nupstream:\n  origin: http://127.0.0.1:9000\n",
			"f.yaml:3: upstream.origin: not used by role forward (it fetches from the host each request names): remove it (or the -origin flag)"},
		{"shields on a forward proxy", "role: forward\nupstream:\n  shields: [http://127.0.0.1:8090]\n",
			"f.yaml:3: upstream.shields: not used by role forward (it fetches from the host each request names): remove them (or the -shield flags)"},
		{"upstream TLS on a forward proxy", "role: forward\nupstream:\n  tls: {insecure_skip_verify: true}\n",
			"f.yaml:3: upstream.tls: not used by role forward (https destinations are reached through CONNECT tunnels"},
	}
	for _, tt := range tests {
		if err := parseAndCheck(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	// A null section is no setting; the forward role's own upstream
	// timeouts stay allowed.
	for _, in := range []string{"upstream: {origin: http://127.0.0.1:9000}\nforward:\n", "role: forward\nupstream: {connect_timeout: 2s}\n"} {
		if err := parseAndCheck(in); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// parseAndCheck runs what edged -t runs on the file f.yaml holding in.
func parseAndCheck(in string) error {
	c, err := Parse([]byte(in), "f.yaml")
	if err != nil {
		return err
	}
	return c.Check()
}

// TestForwardRulesIdentityNeedsAuth: a rule on users or groups that no
// request can meet (no proxy authentication, or a group nobody defined) is
// refused at its line; with an htpasswd file and defined groups it is
// accepted. Such a deny rule used to load and never be enforced.
func TestForwardRulesIdentityNeedsAuth(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "htpasswd")
	// bcrypt of "secret", cost 4.
	if err := os.WriteFile(users, []byte("alice:$2a$04$YAYhJ5S0D7TqVV8cD/QlUOPpNlMl0N7vpL3B3LXYc7yvYFxQ.uA8S\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rulesYAML := "  rules:\n    groups: {staff: [alice]}\n    list:\n" +
		"      - {name: a, action: deny, users: [bob]}\n" + // line 6 without auth
		"      - {name: b, action: deny, groups: [staff]}\n" +
		"      - {name: c, action: deny, groups: [stafff]}\n"
	err := parseAndCheck("role: forward\nforward:\n" + rulesYAML)
	for _, want := range []string{
		"f.yaml:6: forward.rules.list[0].users: needs forward.auth.htpasswd",
		"f.yaml:7: forward.rules.list[1].groups: needs forward.auth.htpasswd",
		`f.yaml:8: forward.rules.list[2].groups[0]: "stafff" is not defined under forward.rules.groups`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("without auth: err = %v, want %q", err, want)
		}
	}
	withAuth := "role: forward\nforward:\n  auth: {htpasswd: " + users + "}\n" + rulesYAML
	err = parseAndCheck(withAuth)
	if err == nil || strings.Contains(err.Error(), "needs forward.auth.htpasswd") || !strings.Contains(err.Error(), `"stafff" is not defined`) {
		t.Errorf("with auth: err = %v, want only the undefined group", err)
	}
	if err := parseAndCheck(strings.Replace(withAuth, "[stafff]", "[staff]", 1)); err != nil {
		t.Errorf("with auth and defined groups: %v", err)
	}
}

// TestForwardRemoveHeaders: remove_headers absent or null is the default
// list, as null is every field's default (docs/config.md); [] removes
// none. A null used to remove none, as [] does: a proxy that told every
// destination its client's X-Forwarded-For and From.
func TestForwardRemoveHeaders(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"absent", "", forward.DefaultRemoveHeaders()},
		{"null", "  remove_headers: null\n", forward.DefaultRemoveHeaders()},
		{"tilde", "  remove_headers: ~\n", forward.DefaultRemoveHeaders()},
		{"empty", "  remove_headers: []\n", []string{}},
		{"listed", "  remove_headers: [From]\n", []string{"From"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("role: forward\nforward:\n  via: true\n"+tt.yaml), "f.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Check(); err != nil {
				t.Fatalf("Check: %v", err)
			}
			got := c.ForwardOptions().RemoveHeaders
			if got == nil {
				got = forward.DefaultRemoveHeaders() // nil is forward's default (forward.Options)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("RemoveHeaders = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestForwardUsersReadOnce: the users a configuration gives the proxy are
// the ones its check read, from one reading of the file: replaced or
// removed between the check and the start (or a reload's build), the file
// is not read again. It was read twice, and a file rewritten between the
// two readings gave the proxy users that no check had seen.
func TestForwardUsersReadOnce(t *testing.T) {
	users := filepath.Join(t.TempDir(), "htpasswd")
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("role: forward\nforward:\n  auth: {htpasswd: "+users+"}\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(users); err != nil {
		t.Fatal(err)
	}
	u, err := c.ForwardUsers()
	if err != nil || u == nil {
		t.Fatalf("ForwardUsers after the check = %v, %v; want the users the check read", u, err)
	}
	if user, why := u.Check(t.Context(), "Proxy-Authorization", "Basic YWxpY2U6c2VjcmV0", time.Now()); user != "alice" {
		t.Errorf("alice:secret refused (%s)", why)
	}
	if err := c.Check(); err == nil || !strings.Contains(err.Error(), "forward.auth.htpasswd") {
		t.Errorf("Check of the removed file = %v, want it read again and refused", err)
	}
}
