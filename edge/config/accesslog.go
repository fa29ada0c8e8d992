package config

import (
	"os"
	"path/filepath"
	"reflect"
	"time"

	"gopkg.in/yaml.v3"

	"edged/edge/accesslog"
)

// AccessLog configures the access log (edge/accesslog): one line per
// request, buffered and written by a goroutine of its own. In the file it is
// a mapping of these fields, or true or false, the form log.access had
// first: true is every default, false is off.
type AccessLog struct {
	// Off turns the access log off.
	Off bool `yaml:"off"`
	// Format is json (the default) or combined.
	Format string `yaml:"format"`
	// File is the log file, reopened on SIGUSR1 (logrotate); "" writes to
	// stderr.
	File string `yaml:"file"`
	// Buffer is the size of each buffer of lines (a write when it fills).
	Buffer ByteSize `yaml:"buffer"`
	// Flush is the longest a line waits in a buffer that is not full.
	Flush Duration `yaml:"flush"`
}

// Limits of log.access.buffer: a buffer must hold a few lines, and four of
// them are held in memory.
const (
	minAccessBuffer = 4 << 10
	maxAccessBuffer = 16 << 20
)

func defaultAccessLog() AccessLog {
	return AccessLog{Format: "json", Buffer: accesslog.DefaultBufferBytes, Flush: Duration(accesslog.DefaultFlushInterval)}
}

// acceptsBool marks a struct field that may be written as true or false
// (see checkFields).
func (*AccessLog) acceptsBool() {}

// boolShorthandType is the type of the structs that take true or false.
var boolShorthandType = reflect.TypeFor[interface{ acceptsBool() }]()

// UnmarshalYAML reads the mapping over the defaults, or true or false.
func (a *AccessLog) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var on bool
		if err := n.Decode(&on); err != nil {
			return err
		}
		a.Off = !on
		return nil
	}
	type fields AccessLog // without this method
	return n.Decode((*fields)(a))
}

// checkAccessLog checks log.access.
func (c *Config) checkAccessLog() []*FieldError {
	a := c.Log.Access
	var errs []*FieldError
	if _, err := accesslog.ParseFormat(a.Format); err != nil || a.Format == "" {
		errs = append(errs, c.fieldErr("log.access.format", "must be json or combined, got %q", a.Format))
	}
	if a.Buffer < minAccessBuffer || a.Buffer > maxAccessBuffer {
		errs = append(errs, c.fieldErr("log.access.buffer", "must be between 4KiB and 16MiB, got %d bytes", int64(a.Buffer)))
	}
	if a.Flush.Std() <= 0 || a.Flush.Std() > time.Hour {
		errs = append(errs, c.fieldErr("log.access.flush", "must be positive and at most 1h, got %v", a.Flush))
	}
	return errs
}

// accessLogFileProblems reports a log.access.file whose directory does not
// exist: the node could not open it.
func (c *Config) accessLogFileProblems() []*FieldError {
	a := c.Log.Access
	if a.Off || a.File == "" {
		return nil
	}
	if fi, err := os.Stat(filepath.Dir(a.File)); err != nil || !fi.IsDir() {
		return []*FieldError{c.fieldErr("log.access.file", "the directory of %s does not exist", a.File)}
	}
	return nil
}

// AccessLogOptions are log.access's writer options; the caller adds the
// output, metrics and logger. Call it on a validated Config.
func (c *Config) AccessLogOptions() accesslog.Options {
	a := c.Log.Access
	format, _ := accesslog.ParseFormat(a.Format)
	return accesslog.Options{Format: format, File: a.File, BufferBytes: int(a.Buffer), FlushInterval: a.Flush.Std()}
}
