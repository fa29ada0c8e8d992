package config

import (
	"errors"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"edged/origin"
)

func dump(tb testing.TB, c *Config) string {
	tb.Helper()
	out, err := yaml.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return string(out)
}

// FuzzParse feeds arbitrary bytes to Parse and Validate: they must return
// an error or a config, never panic, and every error must be a FieldError.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "listen: :80\n", "cache: {memory: 1GiB, disk: 12XB}\n", "- a\n", "a: 1\n---\nb: 2\n",
		"upstream:\n  shields: [http://a, *x]\n", "x: &a {y: *a}\n", "cache:\n  <<: {memory: 1MiB}\n",
		"server: {max_header_bytes: 99999999999TiB}\n", "name: \"\\u0000\"\n",
	} {
		f.Add([]byte(s))
	}
	for _, name := range []string{"../../examples/edged.yaml", "../../examples/sites.yaml", "../../examples/tls.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(sitesYAML))
	f.Add([]byte(guardsYAML))
	f.Add([]byte("sites: [{routes: [{access: {windows: [{from: '24:00', to: '00:00', days: [x], timezone: ../etc}]}, rate_limit: {rate: .inf}}]}]\n"))
	f.Add([]byte("pools: {a.b: {servers: [{url: x}]}}\nsites: [{routes: [{splits: [{}]}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, perr := Parse(data, "f.yaml")
		if perr != nil && len(errorsOf(perr)) == 0 {
			t.Fatalf("error %q (%T) is not a FieldError", perr, perr)
		}
		if c == nil {
			return
		}
		// A Config with Parse's error is validated all the same (every
		// problem in one run), and keeps reporting Parse's problems.
		err := c.Validate()
		if err != nil && len(errorsOf(err)) == 0 {
			t.Fatalf("Validate error %q is not a FieldError", err)
		}
		if perr != nil && (err == nil || !strings.Contains(err.Error(), errorsOf(perr)[0].Error())) {
			t.Fatalf("Validate = %v, lost Parse's %v", err, perr)
		}
		if err == nil {
			// A valid file builds valid pools.
			for name, po := range c.PoolOptions() {
				p, err := origin.NewPool(po)
				if err != nil {
					t.Fatalf("valid config, origin.NewPool(%s): %v", name, err)
				}
				p.Close()
			}
		}
		_ = c.StorageOptions()
		_ = c.OriginOptions()
	})
}

// errorsOf returns the FieldErrors inside err (which may be joined).
func errorsOf(err error) []*FieldError {
	var out []*FieldError
	var fe *FieldError
	if errors.As(err, &fe) {
		out = append(out, fe)
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, errorsOf(e)...)
		}
	}
	return out
}
