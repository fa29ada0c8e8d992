// Package purge removes content from every edged node at once: it owns the
// purge request (URL, prefix, surrogate key / tag, host, everything; hard or
// soft), the purge HTTP API and the bus that carries purges to every node.
//
// # Contract
//
// A purge accepted by the API is first published to a NATS JetStream stream
// and acknowledged by it (file storage, fsync on every write), so it
// survives a NATS restart; only then does the API answer 200, once the
// local node has applied it too, with the number of objects affected.
// Publishing is tried for 5s, one attempt a second, each carrying the
// purge's ID, which JetStream stores once: an acknowledgement lost with a
// dying server costs an attempt, and a purge never acknowledged is
// answered 503 saying it may still have been stored ("nothing was purged"
// only when no attempt went unanswered: NATS said no stream took it). Every node, the publishing one included, applies every event of the
// stream exactly in stream order through its Invalidator, which records the
// event's sequence in the same transaction as its effect. A node that was
// down or disconnected applies what it missed from its recorded sequence on
// before Start returns. When the stream no longer holds the events after
// that sequence (retention passed, stream purged or recreated), the node
// cannot know what it missed and invalidates its whole cache softly (an
// all+soft purge). Once acknowledged, an event is also sent with its
// sequence on the core subject Subject+".fast" (fast.go), and a node
// applies it from there when it is exactly its next sequence, under the
// same lock as the stream's deliveries: that makes an apply earlier but
// never skips, reorders or repeats one. Before the publish, the event is
// also announced on Subject+".early" (early.go), and a node whose
// Invalidator is a Hider hides what it covers until the ordered apply of
// the same event ID (or 30 s): a hide removes nothing durable and moves no
// sequence, so it costs only misses. Events are idempotent, so a duplicate delivery is
// harmless; an event is never skipped: a failing Invalidate is retried
// with back-off. What an Invalidator's Expander adds to a purge (the URLs
// and prefixes its routes store it under and send their shields) is
// published with it, or in further events before the API answers; an
// added item that is no valid purge item is left out alone, and the
// answer's warning names it (Expander).
//
// # NATS
//
// By default a NATS server with JetStream runs inside the process with no
// listener (Options.NATSListen empty) and the bus connects to it in
// process. With NATSListen the embedded server also accepts other nodes,
// which set NATSURL to its address; at scale every node sets NATSURL to the
// servers of an existing NATS cluster (comma-separated; Credentials,
// NKeySeed, NATSToken and TLS as NATS supports them) and Replicas to 3.
// When its server goes away the client reconnects to another, and the bus
// starts a new session, with a consumer from the applied sequence on (as
// it does when the server holding its consumer dies): the node goes
// on where it stopped, on any server of the cluster.
//
// # Health
//
// Health says which server the bus uses, how often it reconnected, and
// whether the node has fallen behind: trailing the stream's last sequence
// (hinted by each event, and answered by a probe of the stream every
// MaxLag/3, whose answer replaces the hints: one too high never sticks)
// or out of the stream's reach for longer than MaxLag. The metrics say the
// same (edged_purge_behind, edged_purge_stream_sequence,
// edged_purge_bus_server, edged_purge_bus_reconnects_total).
//
// # Authentication of the bus
//
// Two layers keep a client of the bus from purging without the right to.
// NATSToken is sent on every connection, and the embedded server requires
// it from every client; New refuses a listening embedded server without it
// unless AllowUnauthenticatedNATS is set. The token is shared by every node,
// so the embedded server gives its holders no right to create, change,
// delete or purge the purge stream or the GuardStreams, nor to delete
// their messages: only the node that embeds it, connected in process with
// a secret of its own, sets the streams' settings, and a node joining by
// URL whose settings differ uses the stream as it is and logs what
// differs (embedded.go, ensureStream). And every event is signed with
// the fleet's key (SigningKey, by default the API Token): an HMAC-SHA256
// over the exact message body, in the SignatureHeader header, verified in
// constant time. An event with a missing or bad signature is not applied:
// it is logged (never the key), counted in
// edged_purge_rejected_total{reason}, acknowledged and skipped, its
// sequence recorded as done, so ordering and gap detection are unchanged.
// Skipping it loses nothing: nobody with the right to purge made it. Every
// node of a fleet must share the key; a node without any key publishes
// unsigned events and accepts every event (Start logs a warning). A signed
// event copied and published again (a replay) is rejected the same way,
// with reason "replayed": the stream's copy of an event is applied only
// when JetStream stored it within 30 s of its signed time and under its
// event ID as Nats-Msg-Id, which JetStream stores once within its
// duplicate window (replay.go); an early announcement hides at most once
// (early.go). So that a node's wrong clock drops no purge, each node signs
// with its clock corrected by its measured offset to the NATS server's,
// and a publisher reads its stored event back and sends it on the fast
// path only when every node will apply it; one every node rejects is
// published anew, once, and then Publish fails with ErrClockSkew
// (clock.go).
//
// # Lifecycle
//
//	b, err := purge.New(opts)
//	err = b.Start(ctx) // catches up before returning
//	mux.Handle("/purge", b.Handler())
//	defer b.Close()
//
// This package imports nothing of module edged (docs/design.md: purge is a leaf).
package purge
