package purge

import (
	"fmt"

	"github.com/nats-io/nats.go"
)

// The hello, early and fast paths all use core NATS subjects (not stored,
// best effort): a message lost there costs only what that path adds, never
// a purge, which the stream delivers on its own.

// subscribeCore subscribes to a core subject; nats.go restores the
// subscription after every reconnect.
func (b *Bus) subscribeCore(nc *nats.Conn, subject string, h nats.MsgHandler) error {
	if _, err := nc.Subscribe(subject, h); err != nil {
		return fmt.Errorf("purge: subscribing to %s: %w", subject, err)
	}
	return nil
}

// sendCore publishes data on a core subject, signed under context (no key,
// no signature). A failure is logged at debug level as "what not sent".
func (b *Bus) sendCore(subject, context string, data []byte, what string, attrs ...any) {
	msg := &nats.Msg{Subject: subject, Data: data}
	b.signer.signAs(context, msg)
	if err := b.nc.PublishMsg(msg); err != nil {
		b.log.Debug("purge bus: "+what+" not sent", append(attrs, "err", err)...)
	}
}
