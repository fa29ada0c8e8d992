package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"edged/edge"
)

// TLS configures the HTTPS listener.
type TLS struct {
	// Listen is the HTTPS address (host:port); empty disables HTTPS.
	Listen string `yaml:"listen"`
	// Certificates are chosen by the client's SNI name; the first is the
	// default. At least one with Listen, unless ACME is set.
	Certificates []Certificate `yaml:"certificates"`
	// ACME gets and renews certificates automatically (tls_acme.go).
	ACME *ACME `yaml:"acme"`
}

// Certificate is a certificate chain and its private key, PEM files.
type Certificate struct {
	// Cert is the PEM file of the certificate, then its intermediates.
	Cert string `yaml:"cert"`
	// Key is the PEM file of the certificate's private key.
	Key string `yaml:"key"`
}

// UpstreamTLS configures TLS to https upstreams. The zero value verifies
// servers against the system's roots.
type UpstreamTLS struct {
	// CAFile holds PEM certificates trusted instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify turns certificate verification off (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName is the name verified and sent as SNI instead of the URL's
	// host.
	ServerName string `yaml:"server_name"`
}

// LoadCertificates reads tls.certificates, in order. It reads the files
// each time, so calling it again picks up replaced files (a reload). Each
// error is a [*FieldError] naming the field, its line and the file.
func (c *Config) LoadCertificates() ([]tls.Certificate, error) {
	certs, errs := c.loadCertificates()
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return certs, nil
}

// LoadAdminCertificate reads admin_tls's certificate and key: one
// certificate, or none when admin_tls is empty. It reads the files each
// time (a reload picks up replaced files). Errors are [*FieldError] values
// naming admin_tls.cert or admin_tls.key, the line and the file.
func (c *Config) LoadAdminCertificate() ([]tls.Certificate, error) {
	certs, errs := c.loadAdminCertificate()
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return certs, nil
}

func (c *Config) loadAdminCertificate() ([]tls.Certificate, []*FieldError) {
	a := c.AdminTLS
	if a.Cert == "" || a.Key == "" {
		return nil, nil // checkTLS reports half a pair
	}
	cert, pairErrs := loadKeyPair(a.Cert, a.Key)
	var errs []*FieldError
	for _, e := range pairErrs {
		errs = append(errs, c.fieldErrNear("admin_tls."+e.field, "%v", e.err))
	}
	if errs != nil {
		return nil, errs
	}
	return []tls.Certificate{cert}, nil
}

// loadCertificates reads every certificate, reporting each bad one.
func (c *Config) loadCertificates() ([]tls.Certificate, []*FieldError) {
	var errs []*FieldError
	var out []tls.Certificate
	for i, cf := range c.TLS.Certificates {
		path := fmt.Sprintf("tls.certificates[%d]", i)
		cert, pairErrs := loadKeyPair(cf.Cert, cf.Key)
		for _, e := range pairErrs {
			errs = append(errs, c.fieldErrNear(path+"."+e.field, "%v", e.err))
		}
		if pairErrs == nil {
			out = append(out, cert)
		}
	}
	return out, errs
}

// pairError says which file of a key pair is at fault.
type pairError struct {
	field string // "cert" or "key"
	err   error
}

// loadKeyPair reads a certificate and its key, checks that the leaf parses
// and that the key matches it. A missing certificate does not hide a
// missing key: each file that cannot be read is an error.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, []*pairError) {
	var errs []*pairError
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		errs = append(errs, &pairError{"cert", err})
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		errs = append(errs, &pairError{"key", err})
	}
	if errs != nil {
		return tls.Certificate{}, errs
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, []*pairError{{"cert", fmt.Errorf("%s with key %s: %w", certFile, keyFile, err)}}
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, []*pairError{{"cert", fmt.Errorf("%s: %w", certFile, err)}}
		}
	}
	return cert, nil
}

// UpstreamTLSConfig builds the TLS configuration of connections to https
// upstreams from upstream.tls, reading its files; nil when upstream.tls is
// left at its zero value (the system roots, verification on). Errors are
// [*FieldError] values naming the field and the file.
func (c *Config) UpstreamTLSConfig() (*tls.Config, error) {
	conf, errs := c.upstreamTLS()
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return conf, nil
}

// upstreamTLS builds upstream.tls's configuration, reporting every bad file.
func (c *Config) upstreamTLS() (*tls.Config, []*FieldError) {
	u := c.Upstream.TLS
	if u == (UpstreamTLS{}) {
		return nil, nil
	}
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         u.ServerName,
		InsecureSkipVerify: u.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice, documented as tests only
	}
	var errs []*FieldError
	if u.CAFile != "" {
		pem, err := os.ReadFile(u.CAFile)
		conf.RootCAs = x509.NewCertPool()
		switch {
		case err != nil:
			errs = append(errs, c.fieldErr("upstream.tls.ca_file", "%v", err))
		case !conf.RootCAs.AppendCertsFromPEM(pem):
			errs = append(errs, c.fieldErr("upstream.tls.ca_file", "%s: no PEM certificate found", u.CAFile))
		}
	}
	if u.CertFile != "" {
		cert, pairErrs := loadKeyPair(u.CertFile, u.KeyFile)
		for _, e := range pairErrs {
			errs = append(errs, c.fieldErr("upstream.tls."+e.field+"_file", "%v", e.err))
		}
		if pairErrs == nil {
			conf.Certificates = []tls.Certificate{cert}
		}
	}
	return conf, errs
}

// checkTLS validates tls and upstream.tls without reading files: Check
// reads them, and the node again when it starts (LoadCertificates,
// UpstreamTLSConfig).
func (c *Config) checkTLS() []*FieldError {
	var errs []*FieldError
	t := c.TLS
	if e := c.checkAddr("tls.listen", t.Listen, true); e != nil {
		errs = append(errs, e)
	}
	switch {
	case t.Listen == "" && len(t.Certificates) > 0:
		errs = append(errs, c.fieldErr("tls.certificates", "set but tls.listen is empty: no HTTPS listener would use them"))
	case t.Listen != "" && len(t.Certificates) == 0 && t.ACME == nil:
		errs = append(errs, c.fieldErrNear("tls.certificates", "required with tls.listen unless tls.acme is set: at least one {cert: file, key: file}, in the -config file (no flag sets them)"))
	}
	errs = append(errs, c.checkACME()...)
	if t.Listen != "" && !isEphemeral(t.Listen) && (t.Listen == c.Listen || t.Listen == c.Admin) {
		errs = append(errs, c.fieldErr("tls.listen", "must differ from listen and admin, got %q", t.Listen))
	}
	for i, cf := range t.Certificates {
		path := fmt.Sprintf("tls.certificates[%d]", i)
		if cf.Cert == "" {
			errs = append(errs, c.fieldErrNear(path+".cert", "required: the certificate's PEM file"))
		}
		if cf.Key == "" {
			errs = append(errs, c.fieldErrNear(path+".key", "required: the private key's PEM file"))
		}
	}
	if a := c.AdminTLS; a != (Certificate{}) {
		switch {
		case c.Admin == "":
			errs = append(errs, c.fieldErrNear("admin_tls", "set but admin is empty: no admin listener would use it"))
		case a.Cert == "":
			errs = append(errs, c.fieldErrNear("admin_tls.cert", "required with admin_tls: the certificate's PEM file"))
		case a.Key == "":
			errs = append(errs, c.fieldErrNear("admin_tls.key", "required with admin_tls: the private key's PEM file"))
		}
	}
	u := c.Upstream.TLS
	if (u.CertFile == "") != (u.KeyFile == "") {
		errs = append(errs, c.fieldErrNear("upstream.tls.cert_file", "cert_file and key_file go together (a client certificate and its key)"))
	}
	if u.InsecureSkipVerify && u.CAFile != "" {
		errs = append(errs, c.fieldErr("upstream.tls.insecure_skip_verify", "contradicts upstream.tls.ca_file: with verification off the CA is never used"))
	}
	if u.ServerName != "" && !edge.ValidHostPattern(u.ServerName) {
		errs = append(errs, c.fieldErr("upstream.tls.server_name", "invalid host name %q", u.ServerName))
	}
	return errs
}

func isEphemeral(addr string) bool { return len(addr) >= 2 && addr[len(addr)-2:] == ":0" }
