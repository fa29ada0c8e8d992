// Package analytics keeps what an operator asks of a live node, "who and
// what is hitting it right now, and how slow is each route", in bounded
// memory, for the admin listener's /analytics and dashboard.
//
// A [Recorder] is fed one [Event] per finished request (edge.Options.Observer)
// and keeps a ring of Options.Window one-minute buckets. Each bucket holds:
//
//   - three space-saving top-k summaries (Metwally, Agrawal, El Abbadi,
//     "Efficient Computation of Frequent and Top-k Elements in Data
//     Streams", 2005) of Options.TopK counters each: URLs (host and path)
//     by requests, clients by requests, and clients by error responses
//     (status 400 and above);
//   - request counts by status code (100-599, a fixed array);
//   - one latency histogram and hit count per route, for at most
//     Options.MaxRoutes routes; later routes share the route named
//     [OtherRoute].
//
// # Bounds
//
// Memory is at most Window × (3 × TopK entries of at most MaxKeyBytes of
// key each + 600 status counters + MaxRoutes × [NumBuckets] counters), about
// 2 MiB with the defaults, whatever the traffic: a flood of distinct URLs or
// clients replaces the least counted entries rather than adding new ones.
//
// # Accuracy
//
// A space-saving count is an upper bound: it overstates a key's count by at
// most the Error reported with it (the count of the entry it replaced), and
// every key counted more than N/TopK times in a minute is in that minute's
// summary. Counts over the window add the per-minute counts and errors.
// Latency quantiles are read from log-spaced buckets four to a doubling,
// from 50µs to about 105s: a quantile is the upper bound of the bucket that
// holds it, at most 19% above the true value.
//
// A Recorder is safe for concurrent use; one mutex guards it, held for a
// few map and heap operations per request.
package analytics
