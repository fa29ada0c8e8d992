package fleet

import "github.com/nats-io/nats.go"

// NATS adapts a NATS connection to Conn. Messages are core NATS (at most
// once): a lost report only loosens the limit for one interval.
func NATS(nc *nats.Conn) Conn { return natsConn{nc} }

type natsConn struct{ nc *nats.Conn }

func (c natsConn) Publish(subject string, data []byte) error { return c.nc.Publish(subject, data) }

func (c natsConn) Subscribe(subject string, handle func([]byte)) (func() error, error) {
	sub, err := c.nc.Subscribe(subject, func(m *nats.Msg) { handle(m.Data) })
	if err != nil {
		return nil, err
	}
	return sub.Unsubscribe, nil
}
