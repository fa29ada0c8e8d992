package purge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/nats-io/nats.go"
)

// SignatureHeader is the NATS header that carries an event's signature:
// "v1=" and the hex HMAC-SHA256, under the fleet's signing key, of
// signatureContext followed by the exact bytes of the message body (the
// JSON event, which holds its ID, origin node, time and request). Signing
// the bytes as sent, rather than a re-encoding, leaves nothing to
// canonicalize.
const SignatureHeader = "Edged-Purge-Signature"

// signatureContext separates purge event signatures from any other use of
// the same key (by default the key is the purge API token).
const signatureContext = "edged purge event v1\n"

// signatureVersion prefixes the hex MAC so the scheme can change later.
const signatureVersion = "v1="

// Reasons an event is rejected, the values of the "reason" label of
// edged_purge_rejected_total.
const (
	rejectUnsigned     = "unsigned"      // no signature header
	rejectBadSignature = "bad_signature" // malformed, or made with another key
)

// signer signs and verifies events with the fleet's key; a nil *signer
// means no key: events go unsigned and every event is accepted.
type signer struct{ key []byte }

func newSigner(key string) *signer {
	if key == "" {
		return nil
	}
	return &signer{key: []byte(key)}
}

func (s *signer) mac(context string, data []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(context))
	m.Write(data)
	return m.Sum(nil)
}

// sign sets the signature header of a purge event over its body; no key,
// no header.
func (s *signer) sign(msg *nats.Msg) { s.signAs(signatureContext, msg) }

// verify checks the signature of an event body in constant time
// (hmac.Equal). It returns "" when the event may be applied, else the
// rejection reason. Without a key every event is accepted.
func (s *signer) verify(h nats.Header, data []byte) string {
	return s.verifyAs(signatureContext, h, data)
}

// signAs signs msg's body under context, which keeps a message of one kind
// (a hello) from ever verifying as another (a purge event).
func (s *signer) signAs(context string, msg *nats.Msg) {
	if s == nil {
		return
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header.Set(SignatureHeader, signatureVersion+hex.EncodeToString(s.mac(context, msg.Data)))
}

func (s *signer) verifyAs(context string, h nats.Header, data []byte) string {
	if s == nil {
		return ""
	}
	got := h.Get(SignatureHeader)
	if got == "" {
		return rejectUnsigned
	}
	rest, ok := strings.CutPrefix(got, signatureVersion)
	if !ok {
		return rejectBadSignature
	}
	mac, err := hex.DecodeString(rest)
	if err != nil || !hmac.Equal(mac, s.mac(context, data)) {
		return rejectBadSignature
	}
	return ""
}
