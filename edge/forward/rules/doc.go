// Package rules decides which destinations a forward proxy's clients may
// reach, and when, and limits how fast they may go. It is pure: it does
// no network I/O and reads only the category list files it is given.
//
// # Contract
//
// [Options.Validate] checks a configuration without I/O; [Options.Check]
// also reads the list files. Both report every problem at once as
// [Errors], a list of [FieldError] whose Field is the YAML path below the
// options ("list[2].time.from", "categories.social.files[0]"), so the
// config loader can prefix its section and point at the line. [New]
// returns an [Engine], safe for concurrent use; [Engine.Close] stops its
// list reloads.
//
// # Order of evaluation
//
// [Engine.Decide] evaluates, for every request and every CONNECT:
//
//  1. The rules of Options.List in order. A rule matches when every
//     condition it sets holds; within one condition, any listed value is
//     enough. The first rule that matches decides: allow or deny, and its
//     name is the Decision's Rule. Conditions: destination domains (exact
//     "example.com", "*.example.com" for the names below it, ".example.com"
//     for both) and categories (named sets of domains, inline or in list
//     files); destination networks (on the address the proxy resolved,
//     [Request].Addr, never on a name) and ports; client networks; users
//     and groups; methods; a weekly time window in a time zone.
//  2. When no rule matches: Options.Default (allow unless set to deny);
//     the Decision's Rule is [DefaultRule].
//  3. An allowed request then takes a token from its client's request
//     rate (Limits.Rate, Limits.Burst; golang.org/x/time/rate). A client
//     over its rate is refused with Rule [LimitRule] and Limited set, so the
//     proxy answers 429 with Retry-After, not 403. An allowed request
//     carries the client's bandwidth limiter (Limits.Bandwidth), shared by
//     all its requests and tunnels; [LimitReader] and [LimitWriter] wrap
//     streams with it.
//
// Which clients may use the proxy at all, which CONNECT ports are open,
// and the refusal of loopback, private and metadata destinations belong to
// the proxy (edge/forward) and are checked before and after these rules.
//
// # Names
//
// Host names are compared in ASCII (A-labels, RFC 5890), with letter case
// folded (RFC 4343 §2) and one trailing dot dropped. A rule's domains mean
// exactly what they say: "example.com" is not "www.example.com". A line of
// a list file names a zone, the name and all below it, as published
// category lists are written. Decision.Category is the category the
// deciding rule matched through, else the first category by name that
// lists the host.
//
// # Time windows
//
// A window is [From, To) in wall-clock time of its zone
// (time.LoadLocation), on the days listed; one that crosses midnight
// belongs to the day it opens ("fri 22:00–06:00" runs into Saturday).
// Because the clock is read in the zone, windows follow daylight saving
// time: "09:00" is nine on the local clock in winter and in summer. The
// time is passed to Decide, so tests use a fake clock.
//
// # List files and reloads
//
// List files are read by Check and New and polled every ReloadInterval
// (modification time and size). A file that changed is read again; if it
// cannot be read or parsed, the previous contents stay in force and the
// error is logged and returned by [Engine.Reload], so a half-written file
// never opens or closes a category.
//
// # Memory
//
// Limits keep one set of buckets per client (per address, an IPv6 client
// per /64, or per user), at most Limits.MaxClients of them: the least
// recently seen client is dropped first, and clients idle for Limits.Idle
// are dropped as requests pass by. A dropped client comes back with full
// buckets: the limit loosens, never tightens.
package rules
