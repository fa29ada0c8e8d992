package edge

import "sync"

// fillOrder keeps a fill from storing its response over the entry that a
// fill of the same object begun after it has stored. Two fills of one
// object run at once when a request comes after a purge (flights.join
// starts a new flight rather than join one that began before the purge),
// when their requests' credentials differ (flightKey), or when a key
// marked uncacheable turns cacheable again; the older one may end last.
// Its response was stored stale after a purge (storage.Store.SetFetchedAt)
// but over the newer, fresh one: the object fetched after the purge was
// lost, and the next requests revalidated the old one, or were served it
// by stale-while-revalidate after a soft purge. A fill that began later
// saw the origin later: its response is never older.
//
// Each fill takes a sequence number as it begins (before it reads the
// store's purge generation and asks the upstream). Only fills still
// running are remembered: an object's record is dropped when its last fill
// ends, and at most maxFillOrderKeys keys per object, so the bookkeeping is
// bounded by the fetches in progress.
type fillOrder struct {
	mu      sync.Mutex // guards seq and objects
	seq     uint64
	objects map[string]*objectFills
}

// objectFills is the record of one object's fills in progress.
type objectFills struct {
	running int // guarded by fillOrder.mu
	// mu is held across a check and the store it allows, so that two
	// fills' stores of one key cannot pass each other.
	mu sync.Mutex
	// stored: the sequence of the fill that last stored each entry key.
	stored map[string]uint64
	// vary: the Vary field names (joined) of what that fill stored under
	// the object's own key: its Vary index, or "" for a plain entry.
	vary string
	// floor: stores of fills that began before it are refused, as when
	// stored named the keys they would store under (maxFillOrderKeys).
	floor uint64
}

// maxFillOrderKeys bounds the keys remembered for one object. An object is
// remembered while any fill of it runs, and a client that kept its fills
// overlapping (slow ones, or a stream of Vary variants with made-up
// values) made the keys of every variant stored meanwhile pile up without
// end. Past it they are forgotten and the fills then running may store
// nothing more: their responses are no newer than what was stored.
const maxFillOrderKeys = 256

// begin records a fill of object beginning and returns its sequence. The
// caller calls end(object) when the fill is over (it stores nothing
// after).
func (o *fillOrder) begin(object string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.objects == nil {
		o.objects = make(map[string]*objectFills)
	}
	of := o.objects[object]
	if of == nil {
		of = &objectFills{}
		o.objects[object] = of
	}
	of.running++
	o.seq++
	return o.seq
}

// end records that a fill of object that began is over.
func (o *fillOrder) end(object string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if of := o.objects[object]; of != nil {
		if of.running--; of.running <= 0 {
			delete(o.objects, object)
		}
	}
}

// store runs set, which stores the entry under key for the fill of object
// that began as seq (and has not ended: store is called between begin and
// end, and refuses, reporting false, when object has no fill running),
// unless a fill of object that began later stored under
// key already; it reports whether set ran. vary is the response's Vary
// field names, joined: key is then a variant, and set(true) also stores
// the object's Vary index under object ("": key is object's, or a slice's). A variant's index is not stored
// over what a later fill stored under object (set(false): the variant
// alone), and the variant not at all when that is not an index of the same
// names: a plain entry, or the index of another Vary, which never leads to
// it. Without this, an origin that changed its Vary in a deploy, purged,
// had the fill begun before the purge replace the newer fill's object with
// its own index, and requests went to the pre-purge variant.
func (o *fillOrder) store(object, key, vary string, seq uint64, set func(index bool)) bool {
	o.mu.Lock()
	of := o.objects[object] // held from begin to end: the caller's fill runs
	o.mu.Unlock()
	if of == nil {
		// Called outside begin and end (fetch.run and runSlice call it
		// between them): nothing orders this store against the object's
		// other fills, so it is refused, as a superseded one is, rather
		// than crash the fill's goroutine and the node with it.
		return false
	}
	of.mu.Lock()
	defer of.mu.Unlock()
	if of.stored[key] > seq || seq < of.floor {
		return false
	}
	index := key == object || vary != "" // a slice's key is neither
	if vary != "" && of.stored[object] > seq {
		if of.vary != vary {
			return false
		}
		index = false
	}
	if len(of.stored) >= maxFillOrderKeys {
		// This store was judged with every key; those after it are judged
		// by the floor: the newest fill that stored any of them.
		for _, s := range of.stored {
			of.floor = max(of.floor, s)
		}
		clear(of.stored)
	}
	if of.stored == nil {
		of.stored = make(map[string]uint64, 2)
	}
	of.stored[key] = seq
	if index {
		of.stored[object], of.vary = seq, vary
	}
	set(index)
	return true
}
