package acme

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/nats-io/nats.go/jetstream"

	"edged/internal/settingsdiff"
)

// KVStorage is a certmagic.Storage on two NATS JetStream key-value
// buckets: one holds the certificates, keys, ACME account and challenge
// tokens, the other the locks. Every node of a fleet connected to the same
// NATS sees the same certificates, and the locks let one node at a time
// ask the CA for a name, so a fleet orders each certificate once.
//
// A lock is a key created only if absent (JetStream's expected-revision
// check) and refreshed by its holder every LockTTL/3; the locks bucket's
// max age is LockTTL, so the lock of a node that died without unlocking
// expires after at most LockTTL and another node takes over.
//
// The buckets' streams deny purges and message deletes (JetStream's
// deny_purge and deny_delete, which no update can turn off again), and so
// roll-ups too: no client can empty a bucket, wholesale or with a
// "Nats-Rollup: all" message, and make every node order its certificates
// again. KVStorage only puts, gets, deletes (a delete marker) and lists
// keys.
type KVStorage struct {
	js   jetstream.JetStream
	opts KVOptions

	mu    sync.Mutex // guards data, locks and held
	data  jetstream.KeyValue
	locks jetstream.KeyValue
	held  map[string]*heldLock // by lock name
}

// KVOptions configure a KVStorage. Zero values mean the defaults.
type KVOptions struct {
	// Bucket is the data bucket's name; the locks bucket is Bucket +
	// "_LOCKS". Default "EDGED_ACME".
	Bucket string
	// Replicas of both buckets on a NATS cluster. Default 1.
	Replicas int
	// LockTTL is how long a lock outlives its holder's last refresh.
	// Default 60s.
	LockTTL time.Duration
	// Owner names this node in the locks it holds (for operators reading
	// the bucket). Default "edged".
	Owner string
	// Logger receives what differs when a bucket's settings are not this
	// node's and NATS does not let it change them; nil discards.
	Logger *slog.Logger
}

func (o KVOptions) withDefaults() KVOptions {
	if o.Bucket == "" {
		o.Bucket = "EDGED_ACME"
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.LockTTL == 0 {
		o.LockTTL = time.Minute
	}
	if o.Owner == "" {
		o.Owner = "edged"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Streams are the names of the JetStream streams that hold o's buckets,
// for a NATS server to guard (purge.Options.GuardStreams).
func (o KVOptions) Streams() []string {
	o = o.withDefaults()
	return []string{kvStreamPrefix + o.Bucket, kvStreamPrefix + o.Bucket + "_LOCKS"}
}

// kvStreamPrefix starts the name of a key-value bucket's stream.
const kvStreamPrefix = "KV_"

// heldLock is a lock this process holds; stop ends its refresher.
type heldLock struct {
	stop chan struct{}
	done chan struct{}
	rev  uint64 // the revision the refresher last wrote; read after done
}

var _ certmagic.Storage = (*KVStorage)(nil)

// lockPoll is how often Lock tries again while another node holds the lock.
const lockPoll = 250 * time.Millisecond

// NewKVStorage keeps certmagic's data in js's key-value buckets, which it
// creates on first use (so a node starts while NATS is unreachable).
func NewKVStorage(js jetstream.JetStream, opts KVOptions) *KVStorage {
	return &KVStorage{js: js, opts: opts.withDefaults(), held: make(map[string]*heldLock)}
}

// Ensure creates the buckets, or sets their settings to this node's, now
// rather than on first use: the node that embeds the NATS server does it
// at start, since the others may not (purge.Options.GuardStreams).
func (s *KVStorage) Ensure(ctx context.Context) error {
	_, _, err := s.buckets(ctx)
	return err
}

// buckets returns the two buckets, creating them if needed.
func (s *KVStorage) buckets(ctx context.Context) (data, locks jetstream.KeyValue, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		s.data, err = s.bucket(ctx, s.opts.Bucket, "edged ACME certificates, keys and account", 0)
		if err != nil {
			return nil, nil, err
		}
	}
	if s.locks == nil {
		s.locks, err = s.bucket(ctx, s.opts.Bucket+"_LOCKS", "edged ACME locks", s.opts.LockTTL)
		if err != nil {
			return nil, nil, err
		}
	}
	return s.data, s.locks, nil
}

// bucket looks the bucket up, creates it when it is missing, and asks to
// update it when its settings differ from this node's; when NATS refuses
// (on the embedded server only the node that embeds it may change them),
// it uses the bucket as it is and logs what differs. nats.go's
// CreateOrUpdateKeyValue would ask for an update every time, and make a
// bucket that a roll-up message can empty.
func (s *KVStorage) bucket(ctx context.Context, name, description string, ttl time.Duration) (jetstream.KeyValue, error) {
	want := s.streamConfig(name, description, ttl)
	st, err := s.js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = s.js.CreateStream(ctx, want)
	case err != nil:
		// reported below
	default:
		if diff := kvDiff(st.CachedInfo().Config, want); diff != "" {
			if _, uerr := s.js.UpdateStream(ctx, want); uerr != nil {
				s.opts.Logger.Warn("acme: cannot update the NATS bucket, using it as it is: its settings differ from this node's",
					"bucket", name, "differs", diff, "err", uerr)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("acme: NATS bucket %s: %w", name, err)
	}
	kv, err := s.js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("acme: NATS bucket %s: %w", name, err)
	}
	return kv, nil
}

// streamConfig is the stream of a key-value bucket as nats.go makes it
// (CreateKeyValue, one value a key, file storage), but denying purges and
// message deletes, and so roll-ups (KVStorage).
func (s *KVStorage) streamConfig(name, description string, ttl time.Duration) jetstream.StreamConfig {
	dup := 2 * time.Minute
	if ttl > 0 && ttl < dup {
		dup = ttl // JetStream requires window <= max age
	}
	return jetstream.StreamConfig{
		Name:              kvStreamPrefix + name,
		Description:       description,
		Subjects:          []string{"$KV." + name + ".>"},
		MaxMsgsPerSubject: 1,
		MaxBytes:          -1,
		MaxAge:            ttl,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           jetstream.FileStorage,
		Replicas:          s.opts.Replicas,
		Duplicates:        dup,
		Discard:           jetstream.DiscardNew,
		AllowDirect:       true,
		DenyDelete:        true,
		DenyPurge:         true,
	}
}

// kvDiff names the settings of have that differ from want's, with both
// values, for a log line; "" when none do.
func kvDiff(have, want jetstream.StreamConfig) string {
	var d settingsdiff.Diff
	add := d.Add
	add(!slices.Equal(have.Subjects, want.Subjects), "subjects", have.Subjects, want.Subjects)
	add(have.MaxMsgsPerSubject != want.MaxMsgsPerSubject, "history", have.MaxMsgsPerSubject, want.MaxMsgsPerSubject)
	add(have.MaxAge != want.MaxAge, "max_age", have.MaxAge, want.MaxAge)
	add(have.MaxMsgs != want.MaxMsgs, "max_msgs", have.MaxMsgs, want.MaxMsgs)
	add(have.MaxBytes != want.MaxBytes, "max_bytes", have.MaxBytes, want.MaxBytes)
	add(have.Storage != want.Storage, "storage", have.Storage, want.Storage)
	add(have.Replicas != want.Replicas, "replicas", have.Replicas, want.Replicas)
	add(have.AllowRollup != want.AllowRollup, "allow_rollup", have.AllowRollup, want.AllowRollup)
	add(have.DenyDelete != want.DenyDelete, "deny_delete", have.DenyDelete, want.DenyDelete)
	add(have.DenyPurge != want.DenyPurge, "deny_purge", have.DenyPurge, want.DenyPurge)
	return d.String()
}

func (s *KVStorage) dataBucket(ctx context.Context) (jetstream.KeyValue, error) {
	data, _, err := s.buckets(ctx)
	return data, err
}

// Store puts value at key.
func (s *KVStorage) Store(ctx context.Context, key string, value []byte) error {
	kv, err := s.dataBucket(ctx)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, encodeKey(key), value); err != nil {
		return fmt.Errorf("acme: storing %s: %w", key, err)
	}
	return nil
}

// Load returns the value at key; fs.ErrNotExist when there is none, as
// certmagic expects.
func (s *KVStorage) Load(ctx context.Context, key string) ([]byte, error) {
	kv, err := s.dataBucket(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, encodeKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("acme: %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("acme: loading %s: %w", key, err)
	}
	return e.Value(), nil
}

// Delete removes key and, as for a directory, every key under key + "/".
func (s *KVStorage) Delete(ctx context.Context, key string) error {
	kv, err := s.dataBucket(ctx)
	if err != nil {
		return err
	}
	keys, err := s.keys(ctx, kv)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k == key || strings.HasPrefix(k, key+"/") {
			if err := kv.Delete(ctx, encodeKey(k)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("acme: deleting %s: %w", k, err)
			}
		}
	}
	return nil
}

// Exists reports whether key is a key or a directory of keys.
func (s *KVStorage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// List returns the keys and directories right under dir, or every key and
// directory below it when recursive.
func (s *KVStorage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	kv, err := s.dataBucket(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := s.keys(ctx, kv)
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []string
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		segs := strings.Split(rest, "/")
		if !recursive {
			segs = segs[:1]
		}
		for i := range segs {
			p := prefix + strings.Join(segs[:i+1], "/")
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("acme: %s: %w", dir, fs.ErrNotExist)
	}
	return out, nil
}

// Stat describes key: a stored value (terminal), or a directory when keys
// exist under key + "/".
func (s *KVStorage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	kv, err := s.dataBucket(ctx)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	e, err := kv.Get(ctx, encodeKey(key))
	if err == nil {
		return certmagic.KeyInfo{Key: key, Modified: e.Created(), Size: int64(len(e.Value())), IsTerminal: true}, nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return certmagic.KeyInfo{}, fmt.Errorf("acme: stat %s: %w", key, err)
	}
	keys, err := s.keys(ctx, kv)
	if err != nil {
		return certmagic.KeyInfo{}, err
	}
	if slices.ContainsFunc(keys, func(k string) bool { return strings.HasPrefix(k, key+"/") }) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("acme: %s: %w", key, fs.ErrNotExist)
}

// keys lists every key of the bucket, decoded. certmagic keeps a few keys
// per host, so listing them all and filtering here is cheap, and a key's
// "/" need not map to NATS subject tokens.
func (s *KVStorage) keys(ctx context.Context, kv jetstream.KeyValue) ([]string, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("acme: listing keys: %w", err)
	}
	var out []string
	for k := range lister.Keys() {
		if d, ok := decodeKey(k); ok {
			out = append(out, d)
		}
	}
	if err := ctx.Err(); err != nil {
		// The lister stops early, without error, when ctx ends.
		return nil, fmt.Errorf("acme: listing keys: %w", err)
	}
	return out, nil
}

// Lock takes the lock called name, waiting while another node holds it,
// until ctx ends.
func (s *KVStorage) Lock(ctx context.Context, name string) error {
	_, locks, err := s.buckets(ctx)
	if err != nil {
		return err
	}
	key := encodeKey(name)
	for {
		rev, err := locks.Create(ctx, key, []byte(s.opts.Owner))
		if err == nil {
			s.hold(name, locks, key, rev)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("acme: lock %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("acme: lock %s: %w", name, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}

// hold records a lock taken and refreshes it until Unlock.
func (s *KVStorage) hold(name string, locks jetstream.KeyValue, key string, rev uint64) {
	h := &heldLock{stop: make(chan struct{}), done: make(chan struct{}), rev: rev}
	s.mu.Lock()
	s.held[name] = h
	s.mu.Unlock()
	go func() {
		defer close(h.done)
		t := time.NewTicker(s.opts.LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), s.opts.LockTTL/3)
				// Update only our own revision: a lock that expired and
				// was taken by another node is not taken back.
				if r, err := locks.Update(ctx, key, []byte(s.opts.Owner), h.rev); err == nil {
					h.rev = r
				}
				cancel()
			}
		}
	}()
}

// Unlock releases the lock called name, if this node still holds it.
func (s *KVStorage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	locks := s.locks
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("acme: unlock %s: not locked by this node", name)
	}
	close(h.stop)
	<-h.done
	err := locks.Delete(ctx, encodeKey(name), jetstream.LastRevision(h.rev))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyExists) {
		// ErrKeyExists here: the revision moved, so the lock expired and
		// another node holds it now; it is not ours to release.
		return fmt.Errorf("acme: unlock %s: %w", name, err)
	}
	return nil
}

// encodeKey maps a certmagic key to a NATS key: letters, digits, "-", "_"
// and "/" stay, every other byte (".", "@", ":" and "=" itself) becomes
// "=XX". A NATS key is a subject, so a "." would split it into tokens and
// "*" or ">" would be wildcards; the encoding keeps it one plain token.
func encodeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '/' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// decodeKey reverses encodeKey; false for a key it did not write.
func decodeKey(k string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if k[i] != '=' {
			b.WriteByte(k[i])
			continue
		}
		if i+2 >= len(k) {
			return "", false
		}
		c, err := strconv.ParseUint(k[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(c))
		i += 2
	}
	return b.String(), true
}
