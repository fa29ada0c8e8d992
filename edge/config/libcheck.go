package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"edged/internal/fielderr"
	"edged/purge"
)

// Values are checked once, by the package that owns them: each library's
// Options.Validate names a bad field by its Go path ("Health.Interval"),
// and a yamlMap says which field of the file that option came from. This
// package keeps only what is the file's own: unknown fields, types, units,
// files and environment variables named, and the rules between sections
// (sites and pools, tls and listeners).

// yamlMap maps the Go field paths of one options struct to YAML paths.
type yamlMap struct {
	// under is the YAML path of the struct: a Go path not in fields is
	// under + its snake_case form ("Health.MaxBackoff" →
	// "pools.api.health.max_backoff").
	under string
	// fields maps a Go path, or a prefix of one ending a segment, to its
	// full YAML path; "" marks an option the file does not set (the
	// binary wires it), whose problems are not the file's.
	fields map[string]string
}

// path returns the YAML path of the option at goPath, and false for an
// option the file does not set.
func (m yamlMap) path(goPath string) (string, bool) {
	best := ""
	for prefix := range m.fields {
		if len(prefix) > len(best) && within(goPath, prefix) {
			best = prefix
		}
	}
	if best != "" {
		to := m.fields[best]
		return to + snake(goPath[len(best):]), to != ""
	}
	return fielderr.Join(m.under, snake(goPath)), true
}

// snake turns a Go field path into the file's spelling:
// "Servers[1].URL" → "servers[1].url", "MaxIdlePerHost" → "max_idle_per_host".
func snake(goPath string) string {
	var b strings.Builder
	r := []rune(goPath)
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// optionProblems turns the error of a library's Validate into FieldErrors
// at the YAML fields m names, with their lines.
func (c *Config) optionProblems(m yamlMap, err error) []*FieldError {
	var out []*FieldError
	for _, fe := range fielderr.All(err) {
		if p, ok := m.path(fe.Path); ok {
			out = append(out, c.fieldErrNear(p, "%s", fe.Msg))
		}
	}
	if err != nil && len(fielderr.All(err)) == 0 {
		out = append(out, &FieldError{File: c.file, Msg: err.Error()})
	}
	return out
}

// libraryProblems validates the options this file makes for each library
// (origin, its pools, storage, the edge handler and its policies,
// compression) and reports every problem at its YAML field. A route's
// rate limit, access rules and auth are checked with the route
// (checkGuards).
func (c *Config) libraryProblems() []*FieldError {
	transport := map[string]string{
		"ConnectTimeout": "upstream.connect_timeout", "HeaderTimeout": "upstream.header_timeout",
		"BodyTimeout": "upstream.body_timeout", "MaxIdlePerHost": "upstream.max_idle_per_host",
	}
	var errs []*FieldError
	if c.Upstream.Origin != "" || len(c.Upstream.Shields) > 0 {
		// Without either, the rule of the file (upstream.origin is
		// required unless there are sites) is checkUpstream's.
		errs = append(errs, c.optionProblems(yamlMap{under: "upstream", fields: map[string]string{"Via": "name"}}, c.OriginOptions().Validate())...)
	}
	for _, name := range c.poolNames(false) {
		if !validName(name) {
			continue // reported by checkPools; its path would not resolve
		}
		p := c.Pools[name]
		retries := "pools." + name + ".retries"
		if p.Retries < 0 {
			// In the file's terms: origin's hint names its Go switch
			// (NoRetries), where the file's 0 turns retries off.
			errs = append(errs, c.fieldErrNear(retries, "must not be negative (0 turns retries off), got %d", p.Retries))
		}
		for _, e := range c.optionProblems(yamlMap{under: "pools." + name, fields: transport}, c.poolOptions(name, p).Validate()) {
			if e.Field != retries {
				errs = append(errs, e)
			}
		}
	}
	errs = append(errs, c.optionProblems(yamlMap{under: "cache", fields: map[string]string{
		"Dir": "data", "MemoryBytes": "cache.memory", "DiskBytes": "cache.disk",
		"WriteQueue": "cache.write_queue", "WriteQueueBytes": "cache.memory",
		"FileBodyMin": "cache.file_body_min", "ScrubBytesPerSecond": "cache.scrub_rate",
	}}, c.StorageOptions().Validate())...)
	eo := c.EdgeOptions()
	errs = append(errs, c.optionProblems(edgeFields, eo.Validate())...)
	for i, s := range c.Sites {
		m := yamlMap{under: "cache", fields: map[string]string{"MaxStale": fmt.Sprintf("sites[%d].max_stale", i)}}
		errs = append(errs, c.optionProblems(m, c.sitePolicy(s).Validate())...)
		if len(s.Shields) > 0 {
			// The site's own shields, as its routes' clients get them.
			m := yamlMap{under: "upstream", fields: map[string]string{"Via": "name", "Shields": fmt.Sprintf("sites[%d].shields", i)}}
			errs = append(errs, c.optionProblems(m, c.ClientOptions(UpstreamRef{Shields: s.Shields}).Validate())...)
		}
	}
	errs = append(errs, c.optionProblems(yamlMap{under: "compression"}, c.CompressOptions().Validate())...)
	errs = append(errs, c.optionProblems(purgeFields, c.purgeValues().Validate())...)
	return errs
}

// purgeValues are the purge bus's options as far as they are values of the
// file. Where the bus connects and its secrets are the file's own rules
// (checkPurge, checkPurgeAuth: URLs, environment variables); the binary
// builds the bus's options at start.
func (c *Config) purgeValues() purge.Options {
	o := purge.DefaultOptions()
	o.StoreDir = filepath.Join(c.Data, "nats")
	o.Retention, o.ApplyTimeout, o.MaxLag = c.Purge.Retention.Std(), c.Purge.ApplyTimeout.Std(), c.Purge.MaxLag.Std()
	return o
}

// purgeFields says where each purge.Options field comes from.
var purgeFields = yamlMap{under: "purge", fields: map[string]string{
	"StoreDir": "data",
	// Wired by the binary, or set from the environment at start.
	"Invalidator": "", "NATSListen": "", "NATSURL": "",
}}

// edgeFields says where each edge.Options field comes from.
var edgeFields = yamlMap{fields: map[string]string{
	"Name": "name", "MaxObjectBytes": "cache.max_object", "BodyMemory": "cache.memory",
	"WriteTimeout": "server.write_timeout", "MaxUploadsPerClient": "server.max_uploads_per_client",
	"MaxBodyBytes": "server.max_body_bytes", "RequestBodyTimeout": "server.request_body_timeout",
	"RequestBodyMinRate": "server.request_body_min_rate", "StripRequestHeaders": "server.strip_request_headers",
	"FetchTimeout": "upstream.fetch_timeout", "Policy": "cache",
	// Wired by the binary, not set by the file.
	"Store": "", "Upstream": "", "Router": "", "MaxFillsPerClient": "",
}}

// withoutRepeats drops a problem reported already (the same message about
// the same field): upstream's timeouts reach every pool, a node's policy
// every site.
func withoutRepeats(errs []*FieldError) []*FieldError {
	var out []*FieldError
	for _, e := range errs {
		if !slices.ContainsFunc(out, func(o *FieldError) bool { return o.Field == e.Field && o.Msg == e.Msg }) {
			out = append(out, e)
		}
	}
	return out
}
