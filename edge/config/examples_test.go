package config

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestExamplesLoad keeps the shipped configs (and so the docs that point at
// them) in step with the schema.
func TestExamplesLoad(t *testing.T) {
	loadExamples(t)
}

// loadExamples loads and validates every examples/*.yaml and
// examples/*/*.yaml, by file name.
func loadExamples(t *testing.T) map[string]*Config {
	t.Helper()
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../../examples/*/*.yaml")
	files = append(files, more...)
	if len(files) < 3 {
		t.Fatalf("found only %v", files)
	}
	// The secrets examples/tls.yaml and examples/edge-shield name (never
	// written in a file).
	t.Setenv("EDGED_JWT_SECRET", strings.Repeat("s", 32))
	t.Setenv(NATSTokenEnv, "example-nats-token")
	t.Setenv("EDGED_API_KEYS", "key-one,key-two")
	out := make(map[string]*Config)
	for _, f := range files {
		c, err := Load(f)
		if err == nil {
			err = c.Validate()
		}
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		out[f] = c
	}
	return out
}

// Issue 12, finding 12: examples/sites.yaml named a shield but kept its
// purge bus private, so its purges never reached the shield (and it
// started with a warning). Every example in a tier shares a bus.
func TestExamplesInATierShareAPurgeBus(t *testing.T) {
	for f, c := range loadExamples(t) {
		tier := c.Role == RoleShield || len(c.Upstream.Shields) > 0
		for _, s := range c.Sites {
			if shields, _ := c.SiteShields(s); len(shields) > 0 {
				tier = true
			}
		}
		if tier && c.Purge.NATS.URL == "" && c.Purge.NATS.Listen == "" {
			t.Errorf("%s has shields or is one, but its purge bus is private (set purge.nats.url or listen)", f)
		}
	}
}

// TestExamplesPortsAgree checks what validation cannot see across files:
// no example names another one's admin port (metrics only) as a shield, and
// an example that redirects to https serves HTTPS on the port the redirect
// goes to (the scheme's default, 443).
func TestExamplesPortsAgree(t *testing.T) {
	examples := loadExamples(t)
	admins := make(map[string]string) // admin address → file
	for f, c := range examples {
		if c.Admin != "" {
			admins[c.Admin] = f
		}
	}
	for f, c := range examples {
		shields := slices.Clone(c.Upstream.Shields)
		for _, s := range c.Sites {
			shields = append(shields, s.Shields...)
			if _, port, _ := net.SplitHostPort(c.TLS.Listen); s.HTTPSRedirect && port != "443" {
				t.Errorf("%s: site %s redirects to https://host (port 443) but tls.listen is %q", f, s.Name, c.TLS.Listen)
			}
		}
		for _, s := range shields {
			u, err := url.Parse(s)
			if err != nil {
				t.Errorf("%s: shield %q: %v", f, s, err)
				continue
			}
			if admin, ok := admins[u.Host]; ok {
				t.Errorf("%s: shield %s is the admin port of %s, which serves only metrics and health", f, s, admin)
			}
		}
	}
}

// TestExampleIsDefaults checks that examples/edged.yaml documents the real
// defaults: loading it gives Default() plus the origin.
func TestExampleIsDefaults(t *testing.T) {
	c, err := Load("../../examples/edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Name = "edged"
	want.Upstream.Origin = "http://127.0.0.1:9000"
	want.Upstream.Shields = []string{}
	c.file, c.root, want.file = "", nil, ""
	if got, w := dump(t, c), dump(t, want); got != w {
		t.Errorf("examples/edged.yaml differs from the defaults:\n%s\nwant\n%s", got, w)
	}
}

// TestDocsNameEveryField fails when a field is added without a line in
// docs/config.md or in examples/edged.yaml.
func TestDocsNameEveryField(t *testing.T) {
	docs, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../examples/edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fields := allFields(configType, "")
	if len(fields) < 25 {
		t.Fatalf("found only %d fields: %v", len(fields), fields)
	}
	for _, f := range fields {
		if !strings.Contains(string(docs), "`"+f+"`") {
			t.Errorf("docs/config.md does not document `%s`", f)
		}
		leaf := f[strings.LastIndex(f, ".")+1:]
		if !strings.Contains(string(example), leaf+":") {
			t.Errorf("examples/edged.yaml does not show %s", f)
		}
	}
}

// allFields lists the dotted paths of the leaf fields of t, as
// docs/config.md writes them: "pools.<name>.algorithm" for a field of a
// map's values, "sites[].hosts" for a field of a list's items.
func allFields(t reflect.Type, prefix string) []string {
	var out []string
	for _, name := range fieldNames(t) {
		f, _ := fieldByTag(t, name)
		path := join(prefix, name)
		ft := f.Type
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
			ft = ft.Elem() // an optional section: its fields are documented all the same
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, allFields(ft, path)...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(out, allFields(ft.Elem(), path+".<name>")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, allFields(ft.Elem(), path+"[]")...)
		default:
			out = append(out, path)
		}
	}
	return out
}
