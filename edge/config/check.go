package config

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Check is [Config.Validate] followed by reading the files the
// configuration names (the HTTPS certificates and keys, upstream.tls's CA
// and client certificate, the routes' JWT keys, the NATS credentials or
// nkey seed of the purge bus): it returns every problem
// of the file's fields, values and named files at once, sorted by line,
// each a [*FieldError]. edged runs it before it opens anything. Validate
// alone never touches the file system, so a configuration can be checked
// away from the machine that holds its files.
func (c *Config) Check() error {
	errs := c.valueProblems()
	for _, e := range c.fileProblems() {
		// A file named by a field that is already wrong (an empty name,
		// a key without its certificate, a route's auth) adds nothing.
		if !slices.ContainsFunc(errs, func(v *FieldError) bool { return within(e.Field, v.Field) || within(v.Field, e.Field) }) {
			errs = append(errs, e)
		}
	}
	return joinSorted(c.withParseProblems(errs))
}

// fileProblems reads every file the configuration names, as the node will
// at start, and reports each one that is missing or bad.
func (c *Config) fileProblems() []*FieldError {
	var errs []*FieldError
	if c.TLS.Listen != "" {
		_, certErrs := c.loadCertificates()
		errs = append(errs, certErrs...)
	}
	_, upErrs := c.upstreamTLS()
	errs = append(errs, upErrs...)
	if c.Admin != "" {
		_, adminErrs := c.loadAdminCertificate()
		errs = append(errs, adminErrs...)
	}
	errs = append(errs, c.forwardFileProblems()...)
	errs = append(errs, c.accessLogFileProblems()...)
	errs = append(errs, c.natsFileProblems()...)
	_, rootErrs := c.acmeRoots()
	errs = append(errs, rootErrs...)
	for i, s := range c.Sites {
		for j, r := range s.Routes {
			if !r.Auth.enabled() {
				continue
			}
			// A check reads the key files but says nothing of the
			// identity provider: the first JWK Set fetch that building
			// the verifier starts may fail away from the network (or
			// before the provider is up), which is no problem of the
			// file, and its warning would follow "configuration OK".
			v, err := c.verifierWith(fmt.Sprintf("sites[%d].routes[%d].auth", i, j), s.routeAuth(r), slog.New(slog.DiscardHandler))
			for _, e := range joinedErrors(err) {
				var fe *FieldError
				if errors.As(e, &fe) {
					errs = append(errs, fe)
				}
			}
			if v != nil {
				v.Close() // a jwks_url's refresh
			}
		}
	}
	return errs
}

// withParseProblems adds the problems Parse found to errs, the values'
// problems, leaving out those about a field Parse already reported: a bad
// value keeps its default, which says nothing about what the file meant.
func (c *Config) withParseProblems(errs []*FieldError) []*FieldError {
	if len(c.problems) == 0 {
		return errs
	}
	out := slices.Clone(c.problems)
	for _, e := range errs {
		if !slices.ContainsFunc(c.problems, func(p *FieldError) bool { return within(e.Field, p.Field) }) {
			out = append(out, e)
		}
	}
	return out
}

// within reports whether the field at path is the field at parent or
// inside it ("a.b[1].c" is within "a.b"); nothing is within "".
func within(path, parent string) bool {
	if parent == "" {
		return false
	}
	rest, ok := strings.CutPrefix(path, parent)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}
