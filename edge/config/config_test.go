package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	c.Upstream.Origin = "http://127.0.0.1:9000"
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() with an origin: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"role", c.Role, "edge"},
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"admin", c.Admin, "127.0.0.1:8081"},
		{"data", c.Data, "./data"},
		{"log.level", c.Log.Level, "info"},
		{"log.access", c.Log.Access, AccessLog{Format: "json", Buffer: 64 << 10, Flush: Duration(time.Second)}},
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout.Std(), 10 * time.Second},
		{"server.idle_timeout", c.Server.IdleTimeout.Std(), 120 * time.Second},
		{"server.max_header_bytes", c.Server.MaxHeaderBytes, ByteSize(64 << 10)},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout.Std(), 30 * time.Second},
		{"upstream.shield_fallback", c.Upstream.ShieldFallback, true},
		{"upstream.connect_timeout", c.Upstream.ConnectTimeout.Std(), 5 * time.Second},
		{"upstream.header_timeout", c.Upstream.HeaderTimeout.Std(), 30 * time.Second},
		{"upstream.body_timeout", c.Upstream.BodyTimeout.Std(), 60 * time.Second},
		{"upstream.fetch_timeout", c.Upstream.FetchTimeout.Std(), 5 * time.Minute},
		{"upstream.max_idle_per_host", c.Upstream.MaxIdlePerHost, 64},
		{"upstream.surrogate_capability", c.Upstream.SurrogateCapability, true},
		{"cache.memory", c.Cache.Memory, ByteSize(256 << 20)},
		{"cache.disk", c.Cache.Disk, ByteSize(10 << 30)},
		{"cache.max_object", c.Cache.MaxObject, ByteSize(64 << 20)},
		{"cache.write_queue", c.Cache.WriteQueue, 1024},
		{"cache.heuristic_fraction", c.Cache.HeuristicFraction, 0.1},
		{"cache.heuristic_max", c.Cache.HeuristicMax.Std(), 24 * time.Hour},
		{"cache.max_stale", c.Cache.MaxStale.Std(), 10 * time.Minute},
		{"cache.ignore_client_no_cache", c.Cache.IgnoreClientNoCache, false},
		{"CacheName", c.CacheName(), "edged"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestEmptyInputsGiveDefaults(t *testing.T) {
	for _, in := range []string{"", "\n", "# only a comment\n", "---\n", "null\n", "~"} {
		c, err := Parse([]byte(in), "edged.yaml")
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		want := Default()
		if !reflect.DeepEqual(c.Cache, want.Cache) || c.Listen != want.Listen || c.Role != want.Role {
			t.Errorf("Parse(%q) = %+v, want the defaults", in, c)
		}
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	in := `
name: pop-ams-1
role: shield
listen: ":80"
upstream:
  origin: https://origin.example.com/base
  shields: [http://10.0.0.1:8090, http://10.0.0.2:8090]
  shield_fallback: false
  header_timeout: 10s
cache:
  memory: 1GiB
  max_object: 8MB
  heuristic_fraction: 0.2
`
	c, err := Parse([]byte(in), "edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.CacheName() != "pop-ams-1" || c.Role != RoleShield || c.Listen != ":80" {
		t.Errorf("top level: %q %q %q", c.CacheName(), c.Role, c.Listen)
	}
	if c.Admin != "127.0.0.1:8081" || c.Cache.Disk != 10<<30 || c.Upstream.BodyTimeout.Std() != time.Minute {
		t.Errorf("unset fields lost their defaults: %+v", c)
	}
	so := c.StorageOptions()
	if so.MemoryBytes != 3<<27 || so.WriteQueueBytes != 1<<27 || so.DiskBytes != 10<<30 || so.WriteQueue != 1024 || so.Dir != "data" {
		t.Errorf("StorageOptions = %+v", so)
	}
	oo := c.OriginOptions()
	if oo.Origin != "https://origin.example.com/base" || len(oo.Shields) != 2 || oo.ShieldFallback ||
		oo.Via != "pop-ams-1" || oo.HeaderTimeout != 10*time.Second || oo.ConnectTimeout != 5*time.Second || oo.MaxIdlePerHost != 64 {
		t.Errorf("OriginOptions = %+v", oo)
	}
	po := c.PolicyOptions()
	if po.HeuristicFraction != 0.2 || po.HeuristicMax != 24*time.Hour || !po.Shield {
		t.Errorf("PolicyOptions = %+v", po)
	}
}

func TestConversions(t *testing.T) {
	c := Default()
	c.Cache.Memory = 0
	c.Role = RoleShield
	c.Upstream.Origin = "http://o"
	if so := c.StorageOptions(); !so.NoMemoryTier {
		t.Errorf("memory 0: StorageOptions = %+v, want NoMemoryTier", so)
	}
	if got := c.CacheName(); got != "edged-shield" {
		t.Errorf("shield CacheName = %q", got)
	}
	// shield_fallback applies only with both an origin and shields.
	if c.OriginOptions().ShieldFallback {
		t.Error("ShieldFallback set without shields")
	}
	c.Upstream.Shields = []string{"http://s"}
	if !c.OriginOptions().ShieldFallback {
		t.Error("ShieldFallback not set with origin and shields")
	}
	c.Upstream.Origin = ""
	if c.OriginOptions().ShieldFallback {
		t.Error("ShieldFallback set without an origin")
	}
}

// TestParseErrors checks that decoding errors name file, line and field.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // substrings of the error
	}{
		{"unknown top-level field", "listen: :80\nfoo: 1\n", []string{`edged.yaml:2: unknown field "foo" at the top level`}},
		{"unknown nested field", "cache:\n  memory: 1MiB\n  memroy: 2MiB\n", []string{`edged.yaml:3: unknown field "memroy" in cache`, "known: memory, disk"}},
		{"two unknown fields", "log:\n  lvl: debug\nserver:\n  x: 1\n", []string{`edged.yaml:2: unknown field "lvl" in log`, `edged.yaml:4: unknown field "x" in server`}},
		{"repeated field", "listen: :80\nlisten: :81\n", []string{"edged.yaml:2: listen: repeated field (first set at line 1)"}},
		{"bad size", "role: edge\ncache:\n  memory: 12XB\n", []string{`edged.yaml:3: cache.memory: invalid size "12XB"`}},
		{"size as mapping", "cache:\n  disk: {a: 1}\n", []string{"edged.yaml:2: cache.disk: invalid size"}},
		{"bad duration", "server:\n  idle_timeout: 2 minutes\n", []string{`edged.yaml:2: server.idle_timeout: invalid duration "2 minutes"`}},
		{"bare number duration", "upstream:\n  connect_timeout: 5\n", []string{`edged.yaml:2: upstream.connect_timeout: invalid duration "5"`}},
		// Go durations have no days: say what to write.
		{"days", "purge:\n  retention: 7d\n", []string{`edged.yaml:2: purge.retention: invalid duration "7d": days are not a unit (the largest is h): write 168h`}},
		{"half a day", "purge:\n  retention: 0.5d\n", []string{`edged.yaml:2: purge.retention: invalid duration "0.5d": days are not a unit (the largest is h): write 12h`}},
		{"wrong int", "cache:\n  write_queue: lots\n", []string{`edged.yaml:2: cache.write_queue: want an integer, got "lots"`}},
		{"wrong bool", "log:\n  access: maybe\n", []string{`edged.yaml:2: log.access: want true or false, got "maybe"`}},
		// Issue 12, finding 9: yaml.v3 took these as booleans.
		{"yaml 1.1 bool", "log:\n  access: yes\n", []string{`edged.yaml:2: log.access: want true or false, got "yes" (YAML 1.1 words`}},
		{"quoted yaml 1.1 bool", "log:\n  access: \"off\"\n", []string{`edged.yaml:2: log.access: want true or false, got "off"`}},
		{"bool list", "log:\n  access: [true]\n", []string{`edged.yaml:2: log.access: want true, false or a mapping of fields, got a list`}},
		{"wrong float", "cache:\n  heuristic_fraction: ten\n", []string{`edged.yaml:2: cache.heuristic_fraction: want a number, got "ten"`}},
		{"section not a mapping", "cache: 5\n", []string{"edged.yaml:1: cache: want a mapping of fields"}},
		{"shields not a list", "upstream:\n  shields: http://s\n", []string{"edged.yaml:2: upstream.shields: want a list"}},
		{"top level is a list", "- a\n- b\n", []string{"edged.yaml:1: the top level must be a mapping"}},
		{"top level is a scalar", "hello\n", []string{`edged.yaml:1: the top level must be a mapping of fields (name: value), got "hello"`}},
		{"two documents", "listen: :80\n---\nlisten: :81\n", []string{"edged.yaml:2: a second YAML document"}},
		{"syntax error", "listen: :80\n  admin: x: y\n", []string{"edged.yaml:2: invalid YAML"}},
		{"tab indentation", "cache:\n\tmemory: 1MiB\n", []string{"edged.yaml:", "invalid YAML"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), "edged.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// Issue 12, finding 9: a quoted "true" was refused while "yes" passed;
// true and false now read the same quoted or not.
func TestQuotedBooleans(t *testing.T) {
	for in, want := range map[string]bool{`"true"`: true, `'false'`: false, "True": true, `"FALSE"`: false, "true": true} {
		c, err := Parse([]byte("log:\n  access: "+in+"\n"), "edged.yaml")
		if err != nil {
			t.Errorf("access: %s: %v", in, err)
			continue
		}
		if c.Log.Access.Off == want {
			t.Errorf("access: %s = %+v, want on %v", in, c.Log.Access, want)
		}
	}
}

// Issue 12, finding 8: a repeated field made the decoder drop its whole
// mapping, so Validate also reported the other fields as missing
// ("upstream.origin: required" though it was set).
func TestRepeatedFieldReportsNothingElse(t *testing.T) {
	c, err := Parse([]byte("listen: 127.0.0.1:8080\nlisten: 127.0.0.1:8082\nupstream:\n  origin: http://127.0.0.1:9000\n"), "edged.yaml")
	if c == nil || err == nil {
		t.Fatalf("Parse = %v, %v; want the config and the repeated field", c, err)
	}
	if c.Listen != "127.0.0.1:8080" || c.Upstream.Origin != "http://127.0.0.1:9000" {
		t.Errorf("listen %q origin %q: the fields around the repeated one were not decoded", c.Listen, c.Upstream.Origin)
	}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "listen: repeated field") || strings.Contains(err.Error(), "upstream.origin") {
		t.Errorf("Validate = %v; want only the repeated field", err)
	}
}

// TestValidateErrors checks one message per rule, with field path and line.
func TestValidateErrors(t *testing.T) {
	const base = "upstream:\n  origin: http://127.0.0.1:9000\n"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"role", "role: edgy\n" + base, `edged.yaml:1: role: must be edge, shield or forward, got "edgy"`},
		{"name", "name: my cache\n" + base, `edged.yaml:1: name: must be an HTTP token`},
		{"listen empty", "listen: ''\n" + base, "edged.yaml:1: listen: required"},
		{"listen bad", "listen: localhost\n" + base, `edged.yaml:1: listen: invalid address "localhost"`},
		{"listen port", "listen: 'h:99999'\n" + base, `edged.yaml:1: listen: invalid port`},
		{"admin same", "listen: ':80'\nadmin: ':80'\n" + base, "edged.yaml:2: admin: must differ from listen"},
		// Refused at start only after the listeners, as "address already in use".
		{"nats listen same as admin", "admin: 127.0.0.1:8081\npurge:\n  nats: {listen: 127.0.0.1:8081, allow_unauthenticated: true}\n" + base, "edged.yaml:3: purge.nats.listen: must differ from listen, admin and tls.listen, got \"127.0.0.1:8081\""},
		{"data", "data: ''\n" + base, "edged.yaml:1: data: required"},
		{"log level", "log: {level: loud}\n" + base, `edged.yaml:1: log.level: must be debug, info, warn or error, got "loud"`},
		{"read header timeout", "server:\n  read_header_timeout: 0s\n" + base, "edged.yaml:2: server.read_header_timeout: must be positive"},
		{"idle timeout", "server:\n  idle_timeout: -1s\n" + base, "edged.yaml:2: server.idle_timeout: must be positive"},
		{"shutdown timeout", "server:\n  shutdown_timeout: 0s\n" + base, "edged.yaml:2: server.shutdown_timeout: must be positive"},
		{"max header bytes", "server:\n  max_header_bytes: 100\n" + base, "edged.yaml:2: server.max_header_bytes: must be between 1KiB and 16MiB"},
		{"origin missing", "upstream:\n  header_timeout: 1s\n", "upstream.origin: required unless upstream.shields or sites are set: give -origin http://host:port, or -config FILE"},
		{"origin empty", "upstream:\n  origin: ''\n", "edged.yaml:2: upstream.origin: required unless upstream.shields or sites are set"},
		{"origin scheme", "upstream:\n  origin: ftp://x\n", `edged.yaml:2: upstream.origin: invalid URL "ftp://x": scheme must be http or https`},
		{"origin host", "upstream:\n  origin: 'http://'\n", `edged.yaml:2: upstream.origin: invalid URL "http://": no host`},
		{"origin query", "upstream:\n  origin: 'http://o/?a=b'\n", `edged.yaml:2: upstream.origin: invalid URL "http://o/?a=b": no query`},
		{"shield bad", "upstream:\n  shields:\n    - http://ok\n    - nope\n", `edged.yaml:4: upstream.shields[1]: invalid URL "nope"`},
		{"shield repeated", "upstream:\n  shields: [http://a, http://a]\n", `edged.yaml:2: upstream.shields[1]: repeated shield "http://a"`},
		{"connect timeout", base + "  connect_timeout: 0s\n", "edged.yaml:3: upstream.connect_timeout: must be positive"},
		{"header timeout", base + "  header_timeout: 0s\n", "edged.yaml:3: upstream.header_timeout: must be positive"},
		{"body timeout", base + "  body_timeout: 0s\n", "edged.yaml:3: upstream.body_timeout: must be positive"},
		{"fetch timeout", base + "  fetch_timeout: 0s\n", "edged.yaml:3: upstream.fetch_timeout: must be positive"},
		{"max idle", base + "  max_idle_per_host: 0\n", "edged.yaml:3: upstream.max_idle_per_host: must be positive"},
		{"disk", base + "cache:\n  disk: 0\n", "edged.yaml:4: cache.disk: must be positive"},
		// A unit left out: 512 bytes, not 512 MiB (such a node cached nothing).
		{"memory without a unit", base + "cache:\n  memory: 512\n", "edged.yaml:4: cache.memory: must be 0 (no memory tier) or at least 1MiB, got 512 bytes: a number without a unit counts bytes (512MiB?)"},
		{"memory under 1MiB", base + "cache:\n  memory: 1023KiB\n", "edged.yaml:4: cache.memory: must be 0 (no memory tier) or at least 1MiB, got 1023KiB"},
		{"max object zero", base + "cache:\n  max_object: 0\n", "edged.yaml:4: cache.max_object: must be positive"},
		{"max object > disk", base + "cache:\n  disk: 1MiB\n  max_object: 2MiB\n", "edged.yaml:5: cache.max_object: must not exceed cache.disk (1MiB), got 2MiB"},
		{"max object > disk, decimal", base + "cache:\n  disk: 1GB\n  max_object: 2GB\n", "edged.yaml:5: cache.max_object: must not exceed cache.disk (1GB), got 2GB"},
		{"write queue", base + "cache:\n  write_queue: 0\n", "edged.yaml:4: cache.write_queue: must be positive"},
		{"heuristic fraction zero", base + "cache:\n  heuristic_fraction: 0\n", "edged.yaml:4: cache.heuristic_fraction: must be above 0 and at most 1"},
		{"heuristic fraction big", base + "cache:\n  heuristic_fraction: 1.5\n", "edged.yaml:4: cache.heuristic_fraction: must be above 0 and at most 1, got 1.5"},
		{"heuristic max", base + "cache:\n  heuristic_max: 0s\n", "edged.yaml:4: cache.heuristic_max: must be positive"},
		{"max stale", base + "cache:\n  max_stale: -1s\n", "edged.yaml:4: cache.max_stale: must not be negative, got -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseAndValidate(t, tt.in)
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FieldError", err)
			}
		})
	}
}

func TestValidateReportsAllSortedByLine(t *testing.T) {
	in := "cache:\n  write_queue: 0\nrole: x\nlog: {level: y}\n"
	c, err := Parse([]byte(in), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(c.Validate().Error(), "\n")
	want := []string{
		"upstream.origin: required unless upstream.shields or sites are set: give -origin http://host:port, or -config FILE (docs/config.md)",
		"f.yaml:2: cache.write_queue: must be positive, got 0",
		`f.yaml:3: role: must be edge, shield or forward, got "x"`,
		`f.yaml:4: log.level: must be debug, info, warn or error, got "y"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestOverrideDropsLine(t *testing.T) {
	c, err := Parse([]byte("role: edge\nupstream: {origin: 'http://o'}\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Role = "edgy" // as a flag would set it
	c.Override("role")
	if got, want := c.Validate().Error(), `role: must be edge, shield or forward, got "edgy"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edged.yaml")
	if err := os.WriteFile(path, []byte("upstream:\n  origin: http://o\ncache:\n  bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path+`:4: unknown field "bogus" in cache`) {
		t.Errorf("Load = %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
	if c := Default(); c.File() != "" {
		t.Errorf("Default().File() = %q", c.File())
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	in := "timeouts: &t\n"
	_, err := Parse([]byte(in+"  connect_timeout: 1s\n"), "f.yaml")
	if err == nil {
		t.Fatal("unknown top-level anchor holder accepted")
	}
	in = "upstream:\n  origin: &o http://o\n  shields: [*o]\n"
	c, err := Parse([]byte(in), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Upstream.Shields; len(got) != 1 || got[0] != "http://o" {
		t.Errorf("alias: shields = %v", got)
	}
}

// TestSurrogateCapabilityOptions: each role's upstream requests carry the
// Surrogate-Capability member upstream.surrogate_capability asks for, and
// only a shield keeps the one its clients (edges) sent.
func TestSurrogateCapabilityOptions(t *testing.T) {
	for _, tt := range []struct {
		role, name string
		off        bool
		want       string
		keep       bool
	}{
		{role: RoleEdge, want: `edged="Surrogate/1.0"`},
		{role: RoleShield, want: `edged-shield="Surrogate/1.0"`, keep: true},
		{role: RoleEdge, name: "pop-ams-1", want: `pop-ams-1="Surrogate/1.0"`},
		{role: RoleEdge, off: true},
		{role: RoleShield, off: true, keep: true},
		{role: RoleForward},
	} {
		c := Default()
		c.Role, c.Name = tt.role, tt.name
		if tt.off {
			yaml := "upstream:\n  origin: http://127.0.0.1:9000\n  surrogate_capability: false\n"
			var err error
			if c, err = Parse([]byte(yaml), "edged.yaml"); err != nil {
				t.Fatal(err)
			}
			c.Role = tt.role
		}
		oo := c.OriginOptions()
		if oo.SurrogateCapability != tt.want || oo.KeepSurrogateCapability != tt.keep {
			t.Errorf("%s %q off=%v: SurrogateCapability %q keep %v, want %q keep %v", tt.role, tt.name, tt.off, oo.SurrogateCapability, oo.KeepSurrogateCapability, tt.want, tt.keep)
		}
		// The Surrogate-Control directives that apply are those targeted
		// at the device token announced, in every site's rules too.
		token, _, _ := strings.Cut(tt.want, "=")
		if got := c.PolicyOptions().Surrogate; got != token {
			t.Errorf("%s %q off=%v: policy Surrogate %q, want %q", tt.role, tt.name, tt.off, got, token)
		}
		if got := c.sitePolicy(Site{}).Surrogate; got != token {
			t.Errorf("%s %q off=%v: site policy Surrogate %q, want %q", tt.role, tt.name, tt.off, got, token)
		}
		if got := c.EdgeOptions().Policy.Surrogate; got != token {
			t.Errorf("%s %q off=%v: edge policy Surrogate %q, want %q", tt.role, tt.name, tt.off, got, token)
		}
	}
}
