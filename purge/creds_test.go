package purge

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Issue 18: a bus authenticates to a NATS server in operator (JWT) mode
// with a credentials file as nsc writes it, and a bus without it cannot
// connect.
func TestBusWithCredentialsFile(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	op, err := nkeys.CreateOperator()
	must(err)
	opPub, _ := op.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(op)
	must(err)
	opClaims, err := jwt.DecodeOperatorClaims(opJWT)
	must(err)
	account := func(js bool) (nkeys.KeyPair, string, string) {
		kp, err := nkeys.CreateAccount()
		must(err)
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		tok, err := ac.Encode(op)
		must(err)
		return kp, pub, tok
	}
	acc, accPub, accJWT := account(true)
	_, sysPub, sysJWT := account(false)
	resolver := &server.MemAccResolver{}
	must(resolver.Store(accPub, accJWT))
	must(resolver.Store(sysPub, sysJWT))

	user, err := nkeys.CreateUser()
	must(err)
	userPub, _ := user.PublicKey()
	userJWT, err := jwt.NewUserClaims(userPub).Encode(acc)
	must(err)
	seed, _ := user.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)
	credsFile := filepath.Join(t.TempDir(), "edged.creds")
	must(os.WriteFile(credsFile, creds, 0o600))

	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), SyncAlways: true,
		NoSigs: true, NoLog: true,
		TrustedOperators: []*jwt.OperatorClaims{opClaims}, AccountResolver: resolver, SystemAccount: sysPub,
	})
	must(err)
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}

	inv := &memInvalidator{}
	b := startRawBus(t, Options{Invalidator: inv, NATSURL: s.ClientURL(), Credentials: credsFile, SigningKey: testSigningKey})
	publishN(t, b, 2, "creds")
	waitFor(t, "applied", func() bool { return len(inv.calls()) == 2 })
	if got := inv.seqs(); !reflect.DeepEqual(got, []uint64{1, 2}) {
		t.Errorf("applied %v, want [1 2]", got)
	}

	// Without the credentials the server refuses the bus.
	nob := newRawBus(t, Options{NATSURL: s.ClientURL(), SigningKey: testSigningKey})
	if err := nob.Start(t.Context()); err == nil {
		t.Fatal("a bus without credentials connected to a server in operator mode")
	}
}
