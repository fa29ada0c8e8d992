package rules

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestValidateNamesEveryField: one invalid Options reports every problem
// at once, each under its YAML path.
func TestValidateNamesEveryField(t *testing.T) {
	o := Options{
		Default:        "block",
		ReloadInterval: "soon",
		Categories: map[string]Category{
			"bad name": {Domains: []string{"ok.test"}},
			"empty":    {},
			"social":   {Domains: []string{"ok.test", "bad..test", "*bad.test", "bücher.de"}, Files: []string{""}},
		},
		Groups: map[string][]string{"staff": {""}},
		List: []Rule{
			{Name: "ok", Action: ActionAllow, Methods: []string{"get", "MKCOL", "purge"}}, // "get" never matches a GET
			{Name: "", Action: "maybe"},
			{Name: "ok", Action: ActionDeny,
				DestNetworks: []string{"10.0.0.1/8", "nonsense"}, ClientNetworks: []string{"fe80::1%eth0"},
				Ports: []string{"0", "90-80", "x"}, Users: []string{""}, Groups: []string{""},
				Categories: []string{"missing"}, Methods: []string{"GET POST"},
				Time: &Window{Days: []string{"mo"}, From: "9:00", To: "25:00", Zone: "Mars/Olympus"}},
			{Name: "default", Action: ActionDeny, Time: &Window{From: "10:00", To: "10:00"}},
			{Name: "has space", Action: ActionDeny},
			{Name: "connect_ports", Action: ActionDeny},
			{Name: "http_ports", Action: ActionDeny},
		},
		Limits: Limits{Key: "ip", Rate: -1, Burst: -2, Bandwidth: "fast", MaxClients: -1, Idle: "0s"},
	}
	err := o.Validate()
	if !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Validate = %v, want ErrInvalidOptions", err)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Validate error %T is not Errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Field)
	}
	want := []string{
		"default", "reload_interval",
		"categories.bad name",
		"categories.empty",
		"categories.social.domains[1]", "categories.social.domains[2]", "categories.social.domains[3]", "categories.social.files[0]",
		"groups.staff[0]",
		"list[0].methods[0]",
		"list[1].name", "list[1].action",
		"list[2].categories[0]", "list[2].dest_networks[0]", "list[2].dest_networks[1]", "list[2].client_networks[0]",
		"list[2].ports[0]", "list[2].ports[1]", "list[2].ports[2]", "list[2].users[0]", "list[2].groups[0]", "list[2].methods[0]",
		"list[2].time.zone", "list[2].time.from", "list[2].time.to", "list[2].time.days[0]",
		"list[2].name",
		"list[3].name", "list[3].time.to",
		"list[4].name",
		"list[5].name",
		"list[6].name",
		"limits.key", "limits.rate", "limits.burst", "limits.bandwidth", "limits.max_clients", "limits.idle",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("fields:\n got %q\nwant %q", got, want)
	}
	for _, e := range es {
		if e.Msg == "" {
			t.Errorf("%s: empty message", e.Field)
		}
	}
	if msg := err.Error(); !strings.Contains(msg, `list[2].time.from: "9:00": want HH:MM`) {
		t.Errorf("message %q does not say what is wanted for list[2].time.from", msg)
	}
}

func TestValidateZero(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
	if err := (Options{}).Check(); err != nil {
		t.Errorf("zero Options: Check: %v", err)
	}
	var es Errors
	if err := (Options{Limits: Limits{Burst: 5}}).Validate(); !errors.As(err, &es) || es[0].Field != "limits.burst" {
		t.Errorf("burst without rate: %v", err)
	}
}

// TestCheckReadsListFiles: Check names the list file that cannot be read
// or parsed, with the line; New fails the same way.
func TestCheckReadsListFiles(t *testing.T) {
	dir := t.TempDir()
	bad := writeList(t, dir, "bad.txt", "good.test\n# fine\nnot a domain\n")
	o := Options{Categories: map[string]Category{
		"a": {Files: []string{dir + "/missing.txt"}},
		"b": {Files: []string{writeList(t, dir, "ok.txt", "ok.test\n"), bad}},
	}}
	err := o.Check()
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("Check = %v, want two FieldErrors", err)
	}
	if es[0].Field != "categories.a.files[0]" || !strings.Contains(es[0].Msg, "no such file") {
		t.Errorf("first error %v", es[0])
	}
	if es[1].Field != "categories.b.files[1]" || !strings.Contains(es[1].Msg, "line 3") {
		t.Errorf("second error %v, want categories.b.files[1] at line 3", es[1])
	}
	if _, err := New(o, nil); !errors.As(err, &es) || len(es) != 2 {
		t.Errorf("New = %v, want the same two errors", err)
	}
}

// exampleYAML is the example of coord/forward-rules-api.md and
// docs/forward-rules.md: it must decode strictly and validate.
const exampleYAML = `
default: allow
reload_interval: 30s
groups:
  staff: [alice, bob]
categories:
  social:
    domains: [".facebook.com", "*.tiktok.com", "x.com"]
    files: [SOCIAL]
list:
  - name: intranet-staff-only
    action: allow
    dest_networks: [10.20.0.0/16]
    groups: [staff]
  - name: no-intranet
    action: deny
    dest_networks: [10.20.0.0/16]
  - name: social-office-hours
    action: deny
    categories: [social]
    time: {days: [weekdays], from: "09:00", to: "17:00", zone: Europe/Berlin}
  - name: ssh-out-admins
    action: allow
    methods: [CONNECT]
    ports: [22, "2200-2299"]
    users: [alice]
limits:
  key: user
  rate: 50
  burst: 100
  bandwidth: 10MiB
  max_clients: 10000
  idle: 10m
`

func TestExampleYAML(t *testing.T) {
	path := writeList(t, t.TempDir(), "social.txt", "facebook.com\n")
	dec := yaml.NewDecoder(strings.NewReader(strings.ReplaceAll(exampleYAML, "SOCIAL", path)))
	dec.KnownFields(true)
	var o Options
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := o.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	e := newEngine(t, o)
	r := Request{Client: addr("10.1.1.1"), User: "alice", Host: "wiki.corp", Port: 443, Method: "GET", Addr: addr("10.20.0.5")}
	if d := e.Decide(r, monday10); !d.Allow || d.Rule != "intranet-staff-only" || d.Bandwidth == nil {
		t.Errorf("alice to the intranet: %+v", d)
	}
	r.User = "carol"
	if d := e.Decide(r, monday10); d.Allow || d.Rule != "no-intranet" {
		t.Errorf("carol to the intranet: %+v", d)
	}
	r.Host, r.Addr, r.Port, r.Method, r.User = "alice.example", addr("192.0.2.7"), 2222, "CONNECT", "alice"
	if d := e.Decide(r, monday10); !d.Allow || d.Rule != "ssh-out-admins" {
		t.Errorf("alice ssh on 2222: %+v", d)
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"65536", 65536, true}, {"1MiB", 1 << 20, true}, {"500KB", 500_000, true}, {"1.5 GiB", 3 << 29, true},
		// Any letter case, and TB/TiB, as every other size of the file
		// ("10mib" was refused here and taken by cache.memory).
		{"10mib", 10 << 20, true}, {"500kb", 500_000, true}, {"2MB", 2_000_000, true}, {"1TiB", 1 << 40, true}, {"1tb", 1e12, true},
		{"0", 0, false}, {"", 0, false}, {"1 MB/s", 0, false}, {"-1", 0, false}, {"1e9", 0, false}, {"99999999999GiB", 0, false},
	} {
		got, err := parseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
