package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed ECDSA P-256 certificate for names and its
// key to dir, returning the two file names.
func writeCert(tb testing.TB, dir, base string, names ...string) (certFile, keyFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	for f, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(block), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return certFile, keyFile
}

func TestLoadCertificates(t *testing.T) {
	dir := t.TempDir()
	aCert, aKey := writeCert(t, dir, "a", "a.test")
	bCert, bKey := writeCert(t, dir, "b", "*.b.test")
	in := "upstream: {origin: 'http://o'}\ntls:\n  listen: 127.0.0.1:0\n  certificates:\n" +
		"    - {cert: " + aCert + ", key: " + aKey + "}\n" +
		"    - {cert: " + bCert + ", key: " + bKey + "}\n"
	c := parseValid(t, in)
	certs, err := c.LoadCertificates()
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || certs[0].Leaf.DNSNames[0] != "a.test" || certs[1].Leaf.DNSNames[0] != "*.b.test" {
		t.Errorf("certificates = %+v", certs)
	}

	tests := []struct {
		name, cert, key, field, file string
	}{
		{"missing cert", filepath.Join(dir, "none.crt"), aKey, "tls.certificates[0].cert", "none.crt"},
		{"missing key", aCert, filepath.Join(dir, "none.key"), "tls.certificates[0].key", "none.key"},
		{"key of another cert", aCert, bKey, "tls.certificates[0].cert", "a.crt"},
		{"not PEM", aKey, aKey, "tls.certificates[0].cert", "a.key"},
	}
	for _, tt := range tests {
		c := parseValid(t, "upstream: {origin: 'http://o'}\ntls:\n  listen: 127.0.0.1:0\n  certificates:\n    - {cert: "+tt.cert+", key: "+tt.key+"}\n")
		_, err := c.LoadCertificates()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || fe.Line != 5 || !strings.Contains(err.Error(), tt.file) {
			t.Errorf("%s: error %v, want a FieldError for %s at line 5 naming %s", tt.name, err, tt.field, tt.file)
		}
	}
}

func TestUpstreamTLSConfig(t *testing.T) {
	dir := t.TempDir()
	caCert, _ := writeCert(t, dir, "ca", "origin.test")
	clientCert, clientKey := writeCert(t, dir, "client", "edge.test")
	c := parseValid(t, "upstream:\n  origin: https://o\n  tls:\n    ca_file: "+caCert+"\n    cert_file: "+clientCert+"\n    key_file: "+clientKey+"\n    server_name: origin.test\n")
	conf, err := c.UpstreamTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if conf.RootCAs == nil || len(conf.Certificates) != 1 || conf.ServerName != "origin.test" || conf.InsecureSkipVerify {
		t.Errorf("config = %+v", conf)
	}
	if conf, err := Default().UpstreamTLSConfig(); conf != nil || err != nil {
		t.Errorf("defaults: %v, %v; want nil (system roots, verification on)", conf, err)
	}

	errTests := []struct {
		in, want string
	}{
		{"    ca_file: " + clientKey + "\n", "edged.yaml:4: upstream.tls.ca_file: " + clientKey + ": no PEM certificate"},
		{"    ca_file: /nonexistent/ca.pem\n", "edged.yaml:4: upstream.tls.ca_file: open /nonexistent/ca.pem"},
		{"    cert_file: " + clientCert + "\n    key_file: /nonexistent/k.pem\n", "edged.yaml:5: upstream.tls.key_file: open /nonexistent/k.pem"},
	}
	for _, tt := range errTests {
		c := parseValid(t, "upstream:\n  origin: https://o\n  tls:\n"+tt.in)
		if _, err := c.UpstreamTLSConfig(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
	validateTests := []struct {
		in, want string
	}{
		{"    cert_file: a.pem\n", "upstream.tls.cert_file: cert_file and key_file go together"},
		{"    ca_file: a.pem\n    insecure_skip_verify: true\n", "edged.yaml:5: upstream.tls.insecure_skip_verify: contradicts upstream.tls.ca_file"},
		{"    server_name: 'bad name'\n", "edged.yaml:4: upstream.tls.server_name: invalid host name"},
	}
	for _, tt := range validateTests {
		c, err := Parse([]byte("upstream:\n  origin: https://o\n  tls:\n"+tt.in), "edged.yaml")
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}

// admin_tls is read at validation (Check) and at start, and each mistake
// names its field and line: half a pair, no admin listener, a file that is
// missing or not the key of the certificate.
func TestAdminTLS(t *testing.T) {
	dir := t.TempDir()
	aCert, aKey := writeCert(t, dir, "a", "admin.test")
	_, bKey := writeCert(t, dir, "b", "other.test")
	good := parseValid(t, "upstream: {origin: 'http://o'}\nadmin: 127.0.0.1:0\nadmin_tls: {cert: "+aCert+", key: "+aKey+"}\n")
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	if certs, err := good.LoadAdminCertificate(); err != nil || len(certs) != 1 || certs[0].Leaf.DNSNames[0] != "admin.test" {
		t.Fatalf("LoadAdminCertificate = %v, %v", certs, err)
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"no key", "admin: 127.0.0.1:0\nadmin_tls: {cert: " + aCert + "}\n", "edged.yaml:3: admin_tls.key: required with admin_tls"},
		{"no cert", "admin: 127.0.0.1:0\nadmin_tls: {key: " + aKey + "}\n", "edged.yaml:3: admin_tls.cert: required with admin_tls"},
		{"no admin", "admin: ''\nadmin_tls: {cert: " + aCert + ", key: " + aKey + "}\n", "edged.yaml:3: admin_tls: set but admin is empty"},
		{"missing key", "admin: 127.0.0.1:0\nadmin_tls: {cert: " + aCert + ", key: " + filepath.Join(dir, "none.key") + "}\n", "edged.yaml:3: admin_tls.key: open " + filepath.Join(dir, "none.key")},
		{"key of another cert", "admin: 127.0.0.1:0\nadmin_tls: {cert: " + aCert + ", key: " + bKey + "}\n", "edged.yaml:3: admin_tls.cert: " + aCert},
	} {
		c, err := Parse([]byte("upstream: {origin: 'http://o'}\n"+tt.yaml), "edged.yaml")
		if err == nil {
			err = c.Check()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v\nwant it to contain %q", tt.name, err, tt.want)
		}
	}
}
