package purge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsTokenHint names the likely cause of an authorization error on the
// bus, for the operator who reads the log.
const natsTokenHint = "the NATS tokens differ: every node of a fleet must be given the same EDGED_NATS_TOKEN (or the variable purge.nats.token_env names)"

// serverLogger passes the embedded NATS server's errors to slog. The
// server is otherwise silent, and a node that presents a wrong token is
// only ever told so by its own log; the listening node must say it too.
type serverLogger struct{ log *slog.Logger }

var _ server.Logger = serverLogger{}

func (l serverLogger) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, server.ErrAuthentication.Error()) {
		l.log.Warn("embedded NATS server refused a client: wrong or missing NATS token", "err", msg, "likely_cause", natsTokenHint)
		return
	}
	l.log.Warn("embedded NATS server", "err", msg)
}

func (l serverLogger) Fatalf(format string, v ...any) {
	l.log.Error("embedded NATS server", "err", fmt.Sprintf(format, v...))
}

// The server's notices (its banner, JetStream's settings) and warnings
// are for debugging.
func (l serverLogger) Noticef(format string, v ...any) { l.debugf(format, v...) }
func (l serverLogger) Warnf(format string, v ...any)   { l.debugf(format, v...) }
func (l serverLogger) Debugf(format string, v ...any)  { l.debugf(format, v...) }
func (l serverLogger) Tracef(format string, v ...any)  { l.debugf(format, v...) }

func (l serverLogger) debugf(format string, v ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("embedded NATS server: " + fmt.Sprintf(format, v...))
	}
}

// reconnectError logs why the bus cannot (re)connect, once per outage: a
// refused token says so and names the likely cause, since "unreachable"
// would send the operator looking at the network.
func (b *Bus) reconnectError(err error) {
	auth := errors.Is(err, nats.ErrAuthorization)
	b.authRefused.Store(auth)
	if !b.outageLogged.CompareAndSwap(false, true) {
		return
	}
	if auth {
		b.log.Error("purge bus: NATS refused this node's token (Authorization Violation); retrying", "likely_cause", natsTokenHint)
		return
	}
	b.log.Warn("purge bus: cannot connect to NATS; retrying", "err", err)
}
