package main

// tls.acme end to end: a real ACME CA (letsencrypt/pebble, built from the
// module cache by edge/internal/pebbletest) validates edged's answers to
// http-01 and tls-alpn-01 on its real listeners.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edged/edge/config"
	"edged/edge/internal/pebbletest"
	"edged/internal/logtest"
)

// acmeConfig is a node that serves edge.test from origin, redirecting plain
// HTTP to HTTPS, with tls.acme on pebble; extra follows tls.acme's fields.
func acmeConfig(t *testing.T, p *pebbletest.Pebble, publicAddr, tlsAddr, extra, origin string) *config.Config {
	t.Helper()
	cfg := parseNodeConfig(t, acmeYAML(tlsAddr, p, extra, origin))
	cfg.Listen = publicAddr
	return cfg
}

// acmeYAML is acmeConfig's file, from its tls section on.
func acmeYAML(tlsAddr string, p *pebbletest.Pebble, extra, origin string) string {
	return fmt.Sprintf(`
tls:
  listen: %s
  acme:
    ca: %s
    ca_root: %s
%s
sites:
  - name: edge
    hosts: [edge.test]
    https_redirect: true
    routes: [{path: /, pool: origin}]
pools:
  origin: {servers: [{url: '%s'}]}
`, tlsAddr, p.Dir, p.Roots, extra, origin)
}

// startACMENode starts a node on cfg whose log is shown if the test fails.
func startACMENode(t *testing.T, cfg *config.Config) *fleetNode {
	t.Helper()
	cfg.Purge.Token = purgeToken
	cfg.Log.Access.Off = true
	cfg.Log.Level = "debug"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", cfg.CacheName(), log)
		}
	})
	return serveNode(t, cfg, log)
}

// getOverTLS fetches https://edge.test/hello from tlsAddr, trusting roots.
func getOverTLS(t *testing.T, tlsAddr string, roots *x509.CertPool) (*http.Response, string) {
	t.Helper()
	client, tr := tlsClient(&testCA{pool: roots}, tlsAddr)
	defer tr.CloseIdleConnections()
	return get(t, client, "https://edge.test/hello")
}

func helloOrigin(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello from the origin")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestACMEChallenges: for each challenge alone, a node with no certificate
// of its own gets one from the CA, which validated it on the node's real
// listeners (http-01 on the plain-HTTP listener, although the site
// redirects plain HTTP to HTTPS; tls-alpn-01 on the HTTPS listener), keeps
// it under the data directory, and serves it: a client trusting only the
// CA's root gets edge.test's certificate and a 200.
func TestACMEChallenges(t *testing.T) {
	for _, challenge := range []string{config.ChallengeHTTP01, config.ChallengeTLSALPN01} {
		t.Run(challenge, func(t *testing.T) {
			publicAddr, tlsAddr := freeAddr(t), freeAddr(t)
			p := pebbletest.Start(t, pebbletest.Options{HTTPPort: pebbletest.Port(t, publicAddr), TLSPort: pebbletest.Port(t, tlsAddr)})
			node := startACMENode(t, acmeConfig(t, p, publicAddr, tlsAddr, "    challenges: ["+challenge+"]", helloOrigin(t)))
			leaf := pebbletest.WaitForCertificate(t, tlsAddr, "edge.test", p.IssuingRoot(t))
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "edge.test" {
				t.Errorf("certificate names %v, want [edge.test]", leaf.DNSNames)
			}
			resp, body := getOverTLS(t, tlsAddr, p.IssuingRoot(t))
			if resp.StatusCode != http.StatusOK || body != "hello from the origin" {
				t.Errorf("GET https://edge.test/hello: %d %q", resp.StatusCode, body)
			}
			if n := p.Orders(); n != 1 {
				t.Errorf("pebble saw %d orders, want 1", n)
			}
			// Kept under the data directory, so a restart does not ask again.
			found, _ := filepath.Glob(filepath.Join(node.n.cfg.Data, "acme", "certificates", "*", "edge.test", "edge.test.crt"))
			if len(found) != 1 {
				t.Fatalf("certificate files under %s/acme: %v", node.n.cfg.Data, found)
			}
			// The private key is readable by the node's user alone.
			if fi, err := os.Stat(strings.TrimSuffix(found[0], ".crt") + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("private key file: %v, %v; want mode 0600", fi, err)
			}
			// Plain HTTP is still redirected: the challenge path alone
			// bypasses the site's rules.
			if code := plainStatus(t, "http://"+publicAddr+"/hello", "edge.test"); code != http.StatusPermanentRedirect {
				t.Errorf("plain GET /hello: %d, want 308", code)
			}
		})
	}
}

// TestACMEFleetOrdersOnce: two nodes sharing one NATS (tls.acme.storage:
// nats), both configured for edge.test, place one order between them and
// serve the same certificate. Node a runs in this process and hosts the
// fleet's NATS; node b is another process, so nothing but NATS is shared.
//
// Each node answers a different challenge, and pebble validates each on
// the other node's listener (http-01 on a's plain-HTTP port, tls-alpn-01
// on b's HTTPS port): whichever node takes the lock and orders, the other
// one answers from the challenge token the orderer stored in NATS, as a
// load balancer in front of a fleet would make happen.
func TestACMEFleetOrdersOnce(t *testing.T) {
	aPublic, aTLS, bPublic, bTLS, natsAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	edgedBinary(t) // built before node a starts, so b follows at once
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: pebbletest.Port(t, aPublic), TLSPort: pebbletest.Port(t, bTLS)})
	// Until both nodes serve, the ACME directory is held at a gate in
	// front of pebble's: node a would otherwise order before b listens,
	// fail its validation, and order again a minute later.
	gate := p.GateDirectory(t)
	origin := helloOrigin(t)
	t.Setenv(natsTokenEnv, "fleet-nats-token")
	fleet := "    storage: nats\n    challenges: [%s]\npurge:\n  token: " + purgeToken + "\n  nats: {%s: '%s', token_env: " + natsTokenEnv + "}\n"

	// b answers tls-alpn-01 and a http-01, so a's orders use tls-alpn-01.
	aCfg := acmeConfig(t, p, aPublic, aTLS, fmt.Sprintf(fleet, config.ChallengeTLSALPN01, "listen", natsAddr), origin)
	aCfg.Name = "node-a"
	startACMENode(t, aCfg)

	bYAML := fmt.Sprintf("name: node-b\nlisten: %s\nadmin: 127.0.0.1:0\ndata: %s\nlog: {level: debug, access: false}\n", bPublic, t.TempDir()) +
		acmeYAML(bTLS, p, fmt.Sprintf(fleet, config.ChallengeHTTP01, "url", "nats://"+natsAddr), origin)
	bFile := filepath.Join(t.TempDir(), "b.yaml")
	writeBytes(t, bFile, []byte(bYAML))
	b := runEdged(t, "-config", bFile)
	if b.public == "" {
		t.Fatalf("node b did not start:\n%s", b.stderr)
	}

	close(gate)
	roots := p.IssuingRoot(t)
	aLeaf, bLeaf := pebbletest.WaitForCertificate(t, aTLS, "edge.test", roots), pebbletest.WaitForCertificate(t, bTLS, "edge.test", roots)
	if aLeaf.SerialNumber.Cmp(bLeaf.SerialNumber) != 0 {
		t.Errorf("node a serves certificate %x, node b %x: want one certificate for the fleet", aLeaf.SerialNumber, bLeaf.SerialNumber)
	}
	if n := p.Orders(); n != 1 {
		t.Errorf("pebble saw %d orders, want 1 for the fleet", n)
	}
	for _, addr := range []string{aTLS, bTLS} {
		if resp, body := getOverTLS(t, addr, roots); resp.StatusCode != http.StatusOK || body != "hello from the origin" {
			t.Errorf("GET https://edge.test/hello on %s: %d %q", addr, resp.StatusCode, body)
		}
	}
}

// TestACMEUnreachableCA: with the CA out of reach the node starts and
// serves at once; a certificate of tls.certificates that covers a managed
// name is served for it, and a managed name without its certificate yet
// gets the default one. The answers to challenges are given for the
// managed names only: a tls-alpn-01 handshake (RFC 8737 §3) or an http-01
// request (RFC 8555 §8.3) for another name is not the CA client's, and the
// site's own rules (here a redirect to HTTPS) apply to it.
func TestACMEUnreachableCA(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	manualCert, manualKey := filepath.Join(dir, "m.crt"), filepath.Join(dir, "m.key")
	manualSerial := ca.issue(t, manualCert, manualKey, "edge.test")
	cfg := parseNodeConfig(t, fmt.Sprintf(`
tls:
  listen: 127.0.0.1:0
  certificates: [{cert: %s, key: %s}]
  acme:
    ca: https://127.0.0.1:1/dir
    hosts: [edge.test, www.edge.test]
sites:
  - name: edge
    hosts: [edge.test, www.edge.test, other.test]
    https_redirect: true
    routes: [{path: /, pool: origin}]
pools:
  origin: {servers: [{url: '%s'}]}
`, manualCert, manualKey, helloOrigin(t)))
	node := startACMENode(t, cfg)
	tlsAddr := node.n.tlsLn.Addr().String()

	for _, name := range []string{"edge.test", "www.edge.test", "other.test"} {
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: name, RootCAs: ca.pool, InsecureSkipVerify: name != "edge.test"}) //nolint:gosec // the default certificate does not name the others
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := conn.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(manualSerial) != 0 {
			t.Errorf("%s: certificate %x, want the manual one %x", name, got, manualSerial)
		}
		conn.Close()
	}

	// tls-alpn-01 for a name tls.acme does not manage: refused. For a
	// managed one with no challenge under way: refused too, and even a
	// successful acme-tls/1 handshake never reaches HTTP.
	for _, name := range []string{"other.test", "edge.test"} {
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: name, NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true}) //nolint:gosec // only the handshake's outcome matters
		if err == nil {
			conn.Close()
			t.Errorf("acme-tls/1 handshake for %s succeeded with no challenge under way", name)
		}
	}

	// http-01 for a name not managed: the site's redirect, not the CA
	// client (which would read its storage for any Host a stranger sends).
	if code := plainStatus(t, node.public+"/.well-known/acme-challenge/abc", "other.test"); code != http.StatusPermanentRedirect {
		t.Errorf("challenge path for other.test: %d, want the site's 308", code)
	}
}

// plainStatus is the status of a GET of url with Host host, redirects not
// followed.
func plainStatus(t *testing.T, url, host string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
