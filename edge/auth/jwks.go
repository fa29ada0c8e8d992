package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
)

// jwk holds the members of a JSON Web Key we use (RFC 7517 §4, RFC 7518 §6).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`   // RSA modulus (RFC 7518 §6.3.1.1)
	E   string `json:"e"`   // RSA exponent (RFC 7518 §6.3.1.2)
	Crv string `json:"crv"` // EC curve (RFC 7518 §6.2.1.1)
	X   string `json:"x"`
	Y   string `json:"y"`
}

// loadJWKSFile reads a JWK Set from path. It never fetches anything.
func loadJWKSFile(path string) ([]publicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, optionErr("JWT.JWKSFile", "%v", err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return nil, optionErr("JWT.JWKSFile", "%s: %v", path, err)
	}
	return keys, nil
}

// parseJWKS parses a JWK Set (RFC 7517 §5) into verification keys.
func parseJWKS(data []byte) ([]publicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	var keys []publicKey
	for i, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		pk, ok, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("keys[%d] (kid %q): %w", i, k.Kid, err)
		}
		if ok {
			keys = append(keys, pk)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable RSA or EC signature key")
	}
	return keys, nil
}

// publicKey converts k; ok is false for keys we skip: other uses (RFC 7517
// §4.2) and key types we do not understand (RFC 7517 §5: ignore them).
func (k jwk) publicKey() (publicKey, bool, error) {
	if k.Use != "" && k.Use != "sig" {
		return publicKey{}, false, nil
	}
	var (
		key any
		err error
	)
	switch k.Kty {
	case "RSA":
		key, err = k.rsaKey()
	case "EC":
		key, err = k.ecKey()
	default:
		return publicKey{}, false, nil
	}
	if err != nil {
		return publicKey{}, false, err
	}
	if err := checkKey(key); err != nil {
		return publicKey{}, false, err
	}
	pk := publicKey{kid: k.Kid, alg: k.Alg, key: key}
	if k.Alg != "" && !contains(pk.algorithms(), k.Alg) {
		return publicKey{}, false, fmt.Errorf("alg %q does not fit a %s key", k.Alg, k.Kty)
	}
	return pk, true, nil
}

func (k jwk) rsaKey() (*rsa.PublicKey, error) {
	n, err := b64(k.N, "n")
	if err != nil {
		return nil, err
	}
	e, err := b64(k.E, "e")
	if err != nil {
		return nil, err
	}
	if len(e) > 4 {
		return nil, errors.New("RSA exponent too large")
	}
	ei := int(new(big.Int).SetBytes(e).Int64())
	// An even or unit exponent is no RSA key.
	if ei < 3 || ei%2 == 0 {
		return nil, fmt.Errorf("RSA exponent %d invalid", ei)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ei}, nil
}

func (k jwk) ecKey() (*ecdsa.PublicKey, error) {
	var c elliptic.Curve
	switch k.Crv {
	case "P-256":
		c = elliptic.P256()
	case "P-384":
		c = elliptic.P384()
	case "P-521":
		c = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported curve %q", k.Crv)
	}
	x, err := b64(k.X, "x")
	if err != nil {
		return nil, err
	}
	y, err := b64(k.Y, "y")
	if err != nil {
		return nil, err
	}
	// RFC 7518 §6.2.1.2: x and y are the full field size, left-padded.
	size := (c.Params().BitSize + 7) / 8
	if len(x) != size || len(y) != size {
		return nil, fmt.Errorf("%s coordinates must be %d bytes", k.Crv, size)
	}
	point := append(append([]byte{4}, x...), y...) // SEC 1 §2.3.3 uncompressed
	pk, err := ecdsa.ParseUncompressedPublicKey(c, point)
	if err != nil {
		return nil, fmt.Errorf("EC point: %w", err)
	}
	return pk, nil
}

// b64 decodes a base64url member without padding (RFC 7515 §2), tolerating
// padding that some tools add.
func b64(s, member string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("member %q missing", member)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", member, err)
	}
	return b, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
