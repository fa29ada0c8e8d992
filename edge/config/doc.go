// Package config reads an edged node's configuration: one YAML file whose
// every field has a default, so an empty file (or none at all) is a working
// configuration.
//
// # Contract
//
// [Parse] and [Load] decode strictly: an unknown or repeated field, a value of
// the wrong type, several YAML documents or a top level that is not a mapping
// are errors. [Config.Validate] checks values; [Config.Check] also reads the
// files the configuration names (certificates, keys, CA, JWT keys). Every
// error names the file, the line and the dotted path of the field, e.g.
//
//	edged.yaml:7: cache.memory: invalid size "12XB"
//
// Every problem is reported in one pass: when a file's only problems are
// with fields, Parse still returns the Config (each bad field at its
// default) beside its error, and Validate and Check report those problems
// again with every problem of the values and files, sorted by line. A new
// field needs nothing for this: its type is checked by walking the document
// against the Config type, and its UnmarshalYAML, if any, reports a bad
// value with nodeErrorf.
//
// Errors are [*FieldError] values, joined with [errors.Join] when there are
// several; a field set from outside the file (a command-line flag, see
// [Config.Override]) is named without a line.
//
// A value is checked once, by the package that owns it: Validate builds
// the options the file makes for origin, storage, edge (with its policy),
// compress and each route's ratelimit, access and auth, calls their
// Validate, and maps each problem's Go field path
// ("Health.Interval") to the YAML field ("pools.api.health.interval") and
// its line (libcheck.go). This package checks only what is the file's own:
// fields, types and units, the files and environment variables it names,
// and the rules between its sections.
//
// Sizes are strings with units ([ByteSize]: "256MiB", "10GB", "4096") and
// durations are Go duration strings ([Duration]: "30s", "5m").
//
// The conversion methods ([Config.StorageOptions], [Config.OriginOptions],
// [Config.PolicyOptions], [Config.PoolOptions], [Config.ClientOptions],
// [Config.EdgeOptions], [Config.CompressOptions]) fill the option structs
// of the packages the binary wires together, turning the file's "0
// disables" into those packages' explicit switches (NoRetries,
// NoMemoryTier, ...); loggers, metric registerers and the parts built at
// start are the caller's to add. [Config.EdgeSites] turns the
// sites into edge.Sites, asking the caller for one origin.Client per
// distinct [UpstreamRef] so equal routes share a client and every pool is
// built once.
//
// Without sites every host is served through upstream.origin and
// upstream.shields; with sites, upstream.origin becomes the pool named
// [DefaultPool] and each route names a pool that must exist.
// docs/config.md documents every field; examples/ holds configs that the
// tests load, so they cannot rot.
package config
