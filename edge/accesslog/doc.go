// Package accesslog writes an edged node's access log: one line per
// request, as JSON (the default) or in the combined log format, to stderr
// or to a file that SIGUSR1 reopens for logrotate.
//
// # Contract
//
// A [Record] is what the serving layer fills for one request; its encoders
// append to a caller's byte slice without reflection and, once the slice
// has grown to a line's size, without allocating. JSON strings are escaped
// so that no header value can end a string, a line or the object (control
// characters, quotes, backslashes, U+2028/U+2029; invalid UTF-8 becomes
// U+FFFD). Combined-format fields escape '"', '\\' and every byte outside
// printable ASCII as \xHH, as nginx does, so no value can forge a second
// line or shift the fields a parser reads.
//
// A [Writer] never performs I/O on the caller's goroutine: a line is encoded
// into a buffer (Options.BufferBytes, 64 KiB by default) and one background
// goroutine writes full buffers, and those being filled every
// Options.FlushInterval (1 s by default), as nginx's
// "access_log ... buffer=64k flush=1s" does. Nor does a line wait for
// another: lines logged at the same moment go to different buffers rather
// than queue for one lock (so they may be written in either order), and
// each is copied whole, never cut or mixed with another. When the output is slower than
// the requests and every buffer is waiting to be written, lines are dropped
// and counted (edged_access_log_dropped_total) rather than making responses
// wait. [Writer.Reopen] makes the next write go to a newly opened file of
// the same name (after logrotate renamed the old one); [Writer.Close]
// writes every line logged before it, then closes the file.
package accesslog
