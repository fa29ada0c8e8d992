package config

import (
	"crypto/x509"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"

	"edged/edge"
)

// ACME configures automatic certificates (tls.acme): the node asks an ACME
// CA (RFC 8555) for a certificate of each host, proves control of the host
// by answering the CA's challenge on its own listeners, and renews the
// certificates in the background. Left out (nil), no certificate is asked
// for; an empty mapping (acme: {}) asks Let's Encrypt for every site host.
type ACME struct {
	// Email is the ACME account's contact (RFC 8555 §7.3), told of
	// certificate problems by the CA; optional.
	Email string `yaml:"email"`
	// CA is the ACME directory URL. Default: Let's Encrypt's production
	// directory (ACMELetsEncrypt); ACMELetsEncryptStaging for trials.
	CA string `yaml:"ca"`
	// CARoot is a PEM file of the root certificates that the CA's own
	// HTTPS server is verified against, for a private CA; empty: the
	// system's roots.
	CARoot string `yaml:"ca_root"`
	// Hosts are the names to get certificates for. Default: every exact
	// (not wildcard) host of sites.
	Hosts []string `yaml:"hosts"`
	// Challenges are the ACME challenges the node answers: http-01 (RFC
	// 8555 §8.3, on the plain-HTTP listener, which the CA reaches on port
	// 80) and tls-alpn-01 (RFC 8737, on the HTTPS listener, reached on port
	// 443). Default: both.
	Challenges []string `yaml:"challenges"`
	// Storage is where certificates, keys, the account and the locks that
	// make a single node ask for each certificate are kept: "data"
	// (default) under the data directory, <data>/acme, for this node alone;
	// "nats" in the purge bus's NATS (JetStream key-value buckets), shared
	// by every node of the fleet connected to it.
	Storage string `yaml:"storage"`
}

// ACME CA directories and challenge names.
const (
	ACMELetsEncrypt        = "https://acme-v02.api.letsencrypt.org/directory"
	ACMELetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
	ChallengeHTTP01        = "http-01"
	ChallengeTLSALPN01     = "tls-alpn-01"
	ACMEStorageData        = "data"
	ACMEStorageNATS        = "nats"
)

// ACMESettings is tls.acme with its defaults filled in; the zero value
// (Enabled false) when tls.acme is left out.
type ACMESettings struct {
	Enabled    bool
	Email      string
	CA         string
	CARoot     string
	Hosts      []string
	Challenges []string
	Storage    string
}

// ACMESettings resolves tls.acme's defaults: the CA, the challenges, the
// storage and the hosts (the sites' exact hosts when tls.acme.hosts is
// empty, in the order of the file).
func (c *Config) ACMESettings() ACMESettings {
	a := c.TLS.ACME
	if a == nil {
		return ACMESettings{}
	}
	s := ACMESettings{Enabled: true, Email: a.Email, CA: a.CA, CARoot: a.CARoot,
		Hosts: slices.Clone(a.Hosts), Challenges: slices.Clone(a.Challenges), Storage: a.Storage}
	if s.CA == "" {
		s.CA = ACMELetsEncrypt
	}
	if len(s.Challenges) == 0 {
		s.Challenges = []string{ChallengeHTTP01, ChallengeTLSALPN01}
	}
	if s.Storage == "" {
		s.Storage = ACMEStorageData
	}
	if len(s.Hosts) == 0 {
		for _, site := range c.Sites {
			for _, h := range site.Hosts {
				if !strings.HasPrefix(h, "*.") && !slices.Contains(s.Hosts, strings.ToLower(h)) {
					s.Hosts = append(s.Hosts, strings.ToLower(h))
				}
			}
		}
	}
	return s
}

// checkACME validates tls.acme without reading files (acmeFileProblems
// reads tls.acme.ca_root).
func (c *Config) checkACME() []*FieldError {
	a := c.TLS.ACME
	if a == nil {
		return nil
	}
	var errs []*FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, c.fieldErrNear(path, format, args...))
	}
	if c.TLS.Listen == "" {
		add("tls.acme", "needs tls.listen: the certificates are served, and tls-alpn-01 answered, on the HTTPS listener")
	}
	if a.Email != "" {
		if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email {
			add("tls.acme.email", "invalid e-mail address %q", a.Email)
		}
	}
	if a.CA != "" {
		// RFC 8555 §6.1: ACME runs over HTTPS only.
		if u, err := url.Parse(a.CA); err != nil || u.Scheme != "https" || u.Host == "" {
			add("tls.acme.ca", "want the https URL of an ACME directory (RFC 8555 §7.1.1), like %s, got %q", ACMELetsEncrypt, a.CA)
		}
	}
	for i, h := range a.Hosts {
		if msg := acmeHostProblem(h); msg != "" {
			add(fmt.Sprintf("tls.acme.hosts[%d]", i), "%s", msg)
		}
	}
	if len(a.Hosts) == 0 && len(c.ACMESettings().Hosts) == 0 {
		add("tls.acme.hosts", "no host to get certificates for: list them here, or give sites exact (not wildcard) hosts")
	}
	for i, ch := range a.Challenges {
		switch {
		case ch != ChallengeHTTP01 && ch != ChallengeTLSALPN01:
			add(fmt.Sprintf("tls.acme.challenges[%d]", i), "must be %s or %s, got %q", ChallengeHTTP01, ChallengeTLSALPN01, ch)
		case slices.Index(a.Challenges, ch) < i:
			add(fmt.Sprintf("tls.acme.challenges[%d]", i), "%s is listed twice", ch)
		}
	}
	if a.Challenges != nil && len(a.Challenges) == 0 {
		add("tls.acme.challenges", "empty: the CA could not validate any host; leave it out for both")
	}
	switch a.Storage {
	case "", ACMEStorageData, ACMEStorageNATS:
	default:
		add("tls.acme.storage", "must be %s or %s, got %q", ACMEStorageData, ACMEStorageNATS, a.Storage)
	}
	return errs
}

// acmeHostProblem says why h cannot be in an ACME order here, "" if it
// can. A wildcard needs the dns-01 challenge (RFC 8555 §7.1.3), which
// edged does not answer; an IP address is not a site host.
func acmeHostProblem(h string) string {
	switch {
	case strings.HasPrefix(h, "*."):
		return fmt.Sprintf("wildcard %q: a CA validates wildcards only by dns-01, which edged does not answer; give exact hosts, or a certificate in tls.certificates", h)
	case isIP(h):
		return fmt.Sprintf("%q is an IP address: want a host name", h)
	case !edge.ValidHostPattern(h) || !strings.Contains(h, "."):
		return fmt.Sprintf("invalid host name %q: want a fully qualified name like www.example.com", h)
	}
	return ""
}

// ACMERoots reads tls.acme.ca_root; nil when it is empty (the system's
// roots). Errors name the field.
func (c *Config) ACMERoots() (*x509.CertPool, error) {
	pool, errs := c.acmeRoots()
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return pool, nil
}

func (c *Config) acmeRoots() (*x509.CertPool, []*FieldError) {
	a := c.TLS.ACME
	if a == nil || a.CARoot == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(a.CARoot)
	if err != nil {
		return nil, []*FieldError{c.fieldErr("tls.acme.ca_root", "%v", err)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, []*FieldError{c.fieldErr("tls.acme.ca_root", "%s: no PEM certificate found", a.CARoot)}
	}
	return pool, nil
}

func isIP(h string) bool {
	_, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil
}
