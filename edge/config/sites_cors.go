package config

import (
	"slices"

	"edged/edge/cors"
)

// CORS is a route's Cross-Origin Resource Sharing policy (edge/cors): the
// edge answers preflights and sets each response's CORS fields. Off while
// allowed_origins is empty.
type CORS struct {
	// AllowedOrigins are origins ("https://app.example.com"), subdomain
	// wildcards ("https://*.example.com") or "*".
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedMethods default to GET, HEAD, POST.
	AllowedMethods []string `yaml:"allowed_methods"`
	// AllowedHeaders default to Accept, Content-Type, X-Requested-With.
	AllowedHeaders []string `yaml:"allowed_headers"`
	// ExposedHeaders are the response fields scripts may read.
	ExposedHeaders []string `yaml:"exposed_headers"`
	// AllowCredentials lets cookies and HTTP authentication be sent; not
	// with "*".
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge is how long browsers keep a preflight's answer; 0 sends none.
	MaxAge Duration `yaml:"max_age"`
}

// on reports whether the file sets a policy.
func (c CORS) on() bool { return len(c.AllowedOrigins) > 0 }

func (c CORS) options() cors.Options {
	return cors.Options{
		AllowedOrigins:   slices.Clone(c.AllowedOrigins),
		AllowedMethods:   slices.Clone(c.AllowedMethods),
		AllowedHeaders:   slices.Clone(c.AllowedHeaders),
		ExposedHeaders:   slices.Clone(c.ExposedHeaders),
		AllowCredentials: c.AllowCredentials,
		MaxAge:           c.MaxAge.Std(),
	}
}

// policy builds the route's policy, nil when the file sets none.
func (c CORS) policy() (*cors.Policy, error) {
	if !c.on() {
		return nil, nil
	}
	return cors.New(c.options())
}

// checkCORS validates a route's CORS policy, when the file sets any of it,
// with cors.Options.Validate (path is "sites[0].routes[1].cors").
func (c *Config) checkCORS(path string, p CORS) []*FieldError {
	untouched := len(p.AllowedMethods)+len(p.AllowedHeaders)+len(p.ExposedHeaders) == 0 && !p.AllowCredentials && p.MaxAge == 0
	if !p.on() && untouched {
		return nil
	}
	return c.optionProblems(yamlMap{under: path}, p.options().Validate())
}
