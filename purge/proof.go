package purge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// A client holding the purge token asks a node to prove, before it sends
// the token, that it holds the same token: GET /purge?challenge=C, without
// credentials, answers {"proof": AdminProof(token, C)}. A public listener
// (which passes /purge to the origin) or an origin cannot make that value
// without the token, so a client that checks the proof never sends its
// token to a listener it was pointed at by mistake (edgectl does,
// docs/security.md).
//
// Whoever reaches the admin listener can so obtain the MAC of a chosen
// challenge and test guesses of the token offline, as whoever reads the
// bus can with event signatures: the token must be random (docs/purge.md).

// proofContext separates admin proofs from every other MAC made with the
// token (event signatures, hellos, announcements: "edged purge ..."), so a
// proof never verifies as one of those nor one of those as a proof.
const proofContext = "edged admin proof v1\n"

// MaxChallenge bounds the challenge a node proves its token over, in bytes.
const MaxChallenge = 256

// AdminProof is the proof that the holder of token answers for challenge:
// "v1=" and the hex HMAC-SHA256, under token, of proofContext followed by
// the challenge.
func AdminProof(token, challenge string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(proofContext))
	m.Write([]byte(challenge))
	return signatureVersion + hex.EncodeToString(m.Sum(nil))
}

// proofResponse is the JSON answer to GET /purge?challenge=C.
type proofResponse struct {
	Proof string `json:"proof"`
}
