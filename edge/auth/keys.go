package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// minRSABits refuses keys that no longer resist factoring.
const minRSABits = 2048

// minHMACSecret is RFC 7518 §3.2: an HS256 key must be at least as long as
// the hash output.
const minHMACSecret = 32

// publicKey is one verification key: *rsa.PublicKey or *ecdsa.PublicKey.
type publicKey struct {
	kid string // from a JWK; "" matches any token kid
	alg string // from a JWK; "" allows any algorithm of the key's type
	key any
}

// algFamily returns the algorithms a key can verify.
func (k publicKey) algorithms() []string {
	switch pk := k.key.(type) {
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512"}
	case *ecdsa.PublicKey:
		if a := ecdsaAlg(pk.Curve); a != "" {
			return []string{a}
		}
	}
	return nil
}

// ecdsaAlg is the one JWS algorithm for each curve (RFC 7518 §3.4).
func ecdsaAlg(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// parsePEMKeys reads every PEM block of data, from the option at path;
// where ("" or "file: ") says which file, for errors.
func parsePEMKeys(path, where string, data []byte) ([]publicKey, error) {
	var keys []publicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		k, err := parsePEMBlock(block)
		if err != nil {
			return nil, optionErr(path, "%s%v", where, err)
		}
		keys = append(keys, publicKey{key: k})
	}
	if len(keys) == 0 {
		return nil, optionErr(path, "%sno PEM public key found", where)
	}
	return keys, nil
}

func parsePEMBlock(b *pem.Block) (any, error) {
	var (
		k   any
		err error
	)
	switch b.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(b.Bytes); err == nil {
			k = c.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key or certificate", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("PEM block %q: %w", b.Type, err)
	}
	return k, checkKey(k)
}

// checkKey accepts the key types and sizes the allowed algorithms use.
func checkKey(k any) error {
	switch pk := k.(type) {
	case *rsa.PublicKey:
		if pk.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits, want at least %d", pk.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if ecdsaAlg(pk.Curve) == "" {
			return errors.New("ECDSA key on an unsupported curve")
		}
	default:
		return fmt.Errorf("unsupported key type %T (want RSA or ECDSA)", k)
	}
	return nil
}

// loadKeys gathers every configured public key.
func loadKeys(o JWTOptions) ([]publicKey, error) {
	var keys []publicKey
	for i, p := range o.PublicKeysPEM {
		ks, err := parsePEMKeys(fmt.Sprintf("JWT.PublicKeysPEM[%d]", i), "", p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	for i, f := range o.PublicKeyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, optionErr(fmt.Sprintf("JWT.PublicKeyFiles[%d]", i), "%v", err)
		}
		ks, err := parsePEMKeys(fmt.Sprintf("JWT.PublicKeyFiles[%d]", i), f+": ", data)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	if o.JWKSFile != "" {
		ks, err := loadJWKSFile(o.JWKSFile)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	return keys, nil
}
