package purge

import "time"

// now is this node's clock.
func (b *Bus) now() time.Time { return b.opts.Now() }
