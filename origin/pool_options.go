package origin

import (
	"fmt"
	"time"
)

// withDefaults returns opts with zero fields replaced by their defaults.
func (opts PoolOptions) withDefaults() PoolOptions {
	if opts.Retries == 0 {
		opts.Retries = defaultRetries
	}
	transportDefaults(&opts.ConnectTimeout, &opts.HeaderTimeout, &opts.BodyTimeout, &opts.MaxIdlePerHost, &opts.Logger)
	if opts.RetryTimeout == 0 {
		opts.RetryTimeout = opts.HeaderTimeout
	}
	opts.Health = opts.Health.withDefaults()
	opts.Ejection = opts.Ejection.withDefaults()
	return opts
}

const defaultRetries = 2

// validate checks the options that defaults cannot fix, except Algorithm and
// Servers; where prefixes errors, as in `origin: pool "api": option`.
func (opts PoolOptions) validate(where string) []error {
	var errs []error
	if opts.Name == "" {
		errs = append(errs, fmt.Errorf("%s Name: required", where))
	}
	if opts.Retries < -1 {
		errs = append(errs, fmt.Errorf("%s Retries: %d (want -1 to disable, 0 for the default, or a positive count)", where, opts.Retries))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"RetryTimeout", opts.RetryTimeout},
		{"ConnectTimeout", opts.ConnectTimeout},
		{"HeaderTimeout", opts.HeaderTimeout},
		{"BodyTimeout", opts.BodyTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s: negative duration %v", where, d.name, d.v))
		}
	}
	if opts.MaxIdlePerHost < 0 {
		errs = append(errs, fmt.Errorf("%s MaxIdlePerHost: negative value %d", where, opts.MaxIdlePerHost))
	}
	if opts.MaxConnsPerHost < 0 {
		errs = append(errs, fmt.Errorf("%s MaxConnsPerHost: negative value %d", where, opts.MaxConnsPerHost))
	}
	errs = append(errs, opts.Health.validate(where+" Health")...)
	errs = append(errs, opts.Ejection.validate(where+" Ejection")...)
	return errs
}
