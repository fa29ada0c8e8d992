package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"edged/edge/config"
	"edged/edge/ratelimit"
	"edged/edge/ratelimit/fleet"
)

// reloadOrigin answers with its name and never lets a response be stored,
// so that every request goes upstream and the answer says where routing
// sent it.
func reloadOrigin(t testing.TB, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// reloadSetup is a configuration file a test rewrites between reloads: a
// site whose one route sends canary's weight to the canary pool and the
// rest to the stable pool, which may include the extra server; shield is
// an upstream a test may list in upstream.shields (shieldYAML).
type reloadSetup struct {
	path, data                    string
	stable, canary, extra, shield *httptest.Server
}

func newReloadSetup(t testing.TB) *reloadSetup {
	dir := t.TempDir()
	return &reloadSetup{
		path: filepath.Join(dir, "edged.yaml"), data: filepath.Join(dir, "data"),
		stable: reloadOrigin(t, "stable"), canary: reloadOrigin(t, "canary"), extra: reloadOrigin(t, "extra"),
		shield: reloadOrigin(t, "shield"),
	}
}

// shieldYAML is the top-level YAML that sends every miss through s.shield.
func (s *reloadSetup) shieldYAML() string {
	return fmt.Sprintf("upstream: {shields: [%s]}\n", s.shield.URL)
}

// write writes the configuration: canary's weight out of 100, the extra
// server in the stable pool or not, and more (YAML) at the top level.
func (s *reloadSetup) write(t testing.TB, canary int, extra bool, more string) {
	t.Helper()
	servers := fmt.Sprintf("{url: %s}", s.stable.URL)
	if extra {
		servers += fmt.Sprintf(", {url: %s}", s.extra.URL)
	}
	conf := fmt.Sprintf(`listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: %s
log: {level: error, access: false}
purge: {token: %s}
%spools:
  stable:
    servers: [%s]
    health: {path: /health, interval: 100ms, rise: 1, start_down: true}
  canary:
    servers: [{url: %s}]
sites:
  - name: app
    hosts: [app.test]
    routes:
      - path: /
        pool: stable
        splits: [{name: canary, pool: canary, weight: %d}]
`, s.data, purgeToken, more, servers, s.canary.URL, canary)
	if err := os.WriteFile(s.path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// serve starts a node in the test process from the file, as run does.
func (s *reloadSetup) serve(t testing.TB) *fleetNode { return serveConfigFile(t, s.path) }

// serveConfigFile starts a node in the test process from the
// configuration file at path (-config path), as run does, so that its
// reload reads the file again.
func serveConfigFile(t testing.TB, path string) *fleetNode {
	t.Helper()
	args := []string{"-config", path}
	cfg, err := parseArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	return serveNodeArgs(t, cfg, io.Discard, args)
}

// postReload sends POST /reload with authorization ("" for none) and
// decodes the reply.
func postReload(t testing.TB, admin, authorization string) (int, reloadReply) {
	t.Helper()
	code, body := adminDo(t, http.MethodPost, admin+"/reload", authorization)
	var reply reloadReply
	if strings.HasPrefix(body, "{") {
		if err := json.Unmarshal([]byte(body), &reply); err != nil {
			t.Fatalf("POST /reload: %d, undecodable reply %q: %v", code, body, err)
		}
	}
	return code, reply
}

// answeredBy returns which origin answered GET path on app.test, or the
// problem ("status 503", the transport error).
func answeredBy(client *http.Client, public, path string) string {
	req, err := http.NewRequest(http.MethodGet, public+path, nil)
	if err != nil {
		return err.Error()
	}
	req.Host = "app.test"
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return err.Error()
	case resp.StatusCode/100 != 2:
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	return string(body)
}

// clientLoad is continuous traffic from several clients, each on its own
// keep-alive connections, counting every answer that is not a 2xx from an
// origin.
type clientLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex // guards failures
	failures   []string   // the first few
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(public string, clients int) *clientLoad {
	l := &clientLoad{stop: make(chan struct{})}
	for c := range clients {
		l.wg.Go(func() {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				switch got := answeredBy(client, public, fmt.Sprintf("/load/%d/%d", c, i)); got {
				case "stable", "canary", "extra", "shield":
					l.ok.Add(1)
				default:
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.failures) < 5 {
						l.failures = append(l.failures, got)
					}
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

// end stops the load and waits for its requests to finish.
func (l *clientLoad) end() {
	close(l.stop)
	l.wg.Wait()
}

// checkRouting sends requests one after another, each of which must be
// answered by an origin in want: called once a reload has returned, it
// checks that every request sent after it goes where the new configuration
// says, with no time allowed for the switch. It goes on until ready
// reports true (nil: at once; a reload that adds a server to a pool with
// start_down sends it nothing until its first health check passes, so ready
// waits for that) and then until every origin in want has answered and at
// least routingMin requests were sent. Its only wall-clock bound is
// liveness: the health check that ready waits for.
func checkRouting(t *testing.T, step int, public string, ready func() bool, want ...string) {
	t.Helper()
	const (
		routingMin = 10  // requests checked, at the least
		routingMax = 100 // once ready, for every origin in want to answer (round robin needs 2)
		readyWait  = 15 * time.Second
	)
	deadline := time.Now().Add(readyWait)
	seen := map[string]bool{}
	readyAt := -1
	for i := 0; ; i++ {
		got := answeredBy(http.DefaultClient, public, fmt.Sprintf("/check/%d/%d", step, i))
		if !slices.Contains(want, got) {
			t.Errorf("reload %d: request %d after it was answered by %q, want one of %v", step, i, got, want)
			return
		}
		seen[got] = true
		if readyAt < 0 && (ready == nil || ready()) {
			readyAt = i
		}
		switch {
		case readyAt >= 0 && len(seen) == len(want) && i+1 >= routingMin:
			return
		case readyAt >= 0 && i-readyAt >= routingMax:
			t.Errorf("reload %d: %d requests answered by %v only, want every one of %v", step, routingMax, seen, want)
			return
		case readyAt < 0 && time.Now().After(deadline):
			t.Errorf("reload %d: the servers it added did not pass their health check within %v", step, readyWait)
			return
		}
	}
}

// poolUp reports whether every server of the current generation's pool has
// passed its health checks.
func poolUp(n *node, pool string) func() bool {
	return func() bool {
		for _, st := range n.upstreams().pools[pool].Status() {
			if !st.Up {
				return false
			}
		}
		return true
	}
}

// TestReloadUnderLoad: ten reloads while clients send requests without
// pause: the canary split's weight goes from 0 to 100 and back, and an
// origin server joins and leaves the stable pool. No request fails, and
// every request sent after a reload has returned goes where the new
// weights say (a server the reload added answers once its first health
// check has passed; until then the others answer). Half the reloads come
// through POST /reload, half through what SIGHUP calls. One reload sends
// every miss through a shield, the next removes it. The pool a reload
// leaves unchanged is kept; the old generations are closed once drained,
// and neither the removed server nor the removed shield leaves series in
// /metrics.
func TestReloadUnderLoad(t *testing.T) {
	s := newReloadSetup(t)
	s.write(t, 0, false, "")
	f := s.serve(t)
	// The pool starts down (start_down) until its first health check:
	// asked before that, the node answers 503 no-healthy-upstream.
	waitUntil(t, poolUp(f.n, "stable"))
	checkRouting(t, 0, f.public, nil, "stable")

	load := startLoad(f.public, 4)
	steps := []struct {
		canary        int
		extra, shield bool
	}{
		{100, false, false}, {0, false, false}, {0, true, false}, {100, true, false}, {0, true, false},
		{0, false, true}, {100, false, false}, {0, true, false}, {100, false, false}, {0, false, false},
	}
	for i, st := range steps {
		step := i + 1
		canaryPool := f.n.upstreams().pools["canary"]
		more := ""
		if st.shield {
			more = s.shieldYAML()
		}
		s.write(t, st.canary, st.extra, more)
		if step%2 == 0 {
			if err := f.n.reload(); err != nil { // what SIGHUP calls
				t.Fatalf("reload %d: %v", step, err)
			}
		} else if code, reply := postReload(t, f.admin, "Bearer "+purgeToken); code != http.StatusOK || !reply.OK {
			t.Fatalf("reload %d: POST /reload = %d %+v", step, code, reply)
		}
		if f.n.upstreams().pools["canary"] != canaryPool {
			t.Errorf("reload %d rebuilt the canary pool, whose settings did not change", step)
		}
		want := []string{"stable"}
		switch {
		case st.shield:
			want = []string{"shield"}
		case st.canary == 100:
			want = []string{"canary"}
		case st.extra:
			want = []string{"stable", "extra"} // round robin: both answer
		}
		checkRouting(t, step, f.public, poolUp(f.n, "stable"), want...)
	}
	load.end()
	if n := load.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during the reloads, first: %q", n, n+load.ok.Load(), load.failures)
	}
	if load.ok.Load() < int64(len(steps)) {
		t.Errorf("only %d requests were answered: the load did not run", load.ok.Load())
	}
	t.Logf("%d requests answered during %d reloads", load.ok.Load(), len(steps))

	if got := metricValue(t, f.admin, `edged_config_reloads_total{result="success"}`); got != float64(len(steps)) {
		t.Errorf("edged_config_reloads_total{result=success} = %v, want %d", got, len(steps))
	}
	if got := metricValue(t, f.admin, "edged_config_generation"); got != float64(len(steps)+1) {
		t.Errorf("edged_config_generation = %v, want %d", got, len(steps)+1)
	}
	// Nothing uses the old generations any more: each is closed (its pools'
	// health checks stopped), and the extra server and the shield, removed,
	// leave no series (pool="stable" and pool="shields").
	extraSeries := regexp.MustCompile(`server="(` + regexp.QuoteMeta(s.extra.URL) + `|` + regexp.QuoteMeta(s.shield.URL) + `)"`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.n.reloads.gensMu.Lock()
		gens := len(f.n.reloads.gens)
		f.n.reloads.gensMu.Unlock()
		_, metrics := fetch(t, f.admin+"/metrics")
		if gens == 1 && !extraSeries.MatchString(metrics) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the load: %d generations open (want 1); removed server's or shield's series left: %v", gens, extraSeries.FindAllString(metrics, -1))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadRemovedOriginSeries: on a node without sites, a reload that
// points upstream.origin elsewhere deletes the old server's series
// (pool="origin", edged_origin_up among them: a server that is gone would
// stay up) once the old generation is closed; the new server's are there.
func TestReloadRemovedOriginSeries(t *testing.T) {
	old, next := reloadOrigin(t, "old"), reloadOrigin(t, "next")
	dir := t.TempDir()
	path := filepath.Join(dir, "edged.yaml")
	write := func(url string) {
		writeBytes(t, path, []byte(fmt.Sprintf("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata: %s\nlog: {level: error, access: false}\nupstream: {origin: %s}\n",
			filepath.Join(dir, "data"), url)))
	}
	write(old.URL)
	f := serveConfigFile(t, path)
	if _, body := fetch(t, f.public+"/a"); body != "old" {
		t.Fatalf("before the reload: %q, want old", body)
	}
	write(next.URL)
	if err := f.n.reload(); err != nil {
		t.Fatal(err)
	}
	if _, body := fetch(t, f.public+"/b"); body != "next" {
		t.Fatalf("after the reload: %q, want next", body)
	}
	oldUp := `edged_origin_up{pool="origin",server="` + old.URL + `"}`
	waitUntil(t, func() bool {
		_, metrics := fetch(t, f.admin+"/metrics")
		return !strings.Contains(metrics, `server="`+old.URL+`"`)
	})
	_, metrics := fetch(t, f.admin+"/metrics")
	if strings.Contains(metrics, oldUp) || !strings.Contains(metrics, `edged_origin_up{pool="origin",server="`+next.URL+`"} 1`) {
		t.Errorf("after the reload, want the new origin's edged_origin_up and not the old one's:\n%s", metrics)
	}
}

// TestReloadRefused: a configuration with problems is refused with every
// problem at its field and line, the same errors as at start; one that
// changes what only a restart applies is refused naming those fields, even
// beside a change that could be applied; either way the configuration in
// use stays. POST /reload takes the admin token.
func TestReloadRefused(t *testing.T) {
	s := newReloadSetup(t)
	s.write(t, 0, false, "")
	f := s.serve(t)
	waitUntil(t, poolUp(f.n, "stable")) // start_down, as in TestReloadUnderLoad

	for _, auth := range []string{"", "Bearer wrong"} {
		if code, _ := postReload(t, f.admin, auth); code != http.StatusUnauthorized {
			t.Errorf("POST /reload with Authorization %q = %d, want 401", auth, code)
		}
	}
	if code, _ := adminGet(t, f, "/reload", "Bearer "+purgeToken); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /reload = %d, want 405", code)
	}
	// A page of another site posting with the operator's Basic credentials.
	req, err := http.NewRequest(http.MethodPost, f.admin+"/reload", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", purgeToken)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST /reload = %d, want 403", resp.StatusCode)
	}

	// Problems: a pool server that is no URL, a route to no pool. The
	// canary weight change beside them is not applied either.
	s.write(t, 100, false, "")
	bad := []byte(strings.NewReplacer("{url: "+s.stable.URL+"}", "{url: ftp://stable.test}", "pool: stable\n", "pool: nosuch\n").Replace(readFile(t, s.path)))
	writeBytes(t, s.path, bad)
	_, startErr := parseArgs([]string{"-config", s.path})
	if startErr == nil {
		t.Fatal("the bad configuration passes the start's checks")
	}
	code, reply := postReload(t, f.admin, "Bearer "+purgeToken)
	if code != http.StatusBadRequest || reply.OK || reply.Result != reloadInvalid {
		t.Errorf("POST /reload of a bad file = %d %+v, want 400 invalid", code, reply)
	}
	if got, want := strings.Join(reply.Errors, "\n"), startErr.Error(); got != want {
		t.Errorf("reload errors:\n%s\nwant those of a start:\n%s", got, want)
	}
	for _, field := range []string{":8: pools.stable.servers[0].url", ":17: sites[0].routes[0].pool"} {
		if !strings.Contains(strings.Join(reply.Errors, "\n"), s.path+field) {
			t.Errorf("reload errors %q do not name %s", reply.Errors, field)
		}
	}
	checkRouting(t, 1, f.public, nil, "stable")

	// Fields only a restart applies, beside a weight change.
	s.write(t, 100, false, "server: {max_body_bytes: 1MiB}\ncache: {disk: 64MiB}\n")
	writeBytes(t, s.path, []byte(strings.Replace(readFile(t, s.path), "listen: 127.0.0.1:0", "listen: 127.0.0.1:1", 1)))
	code, reply = postReload(t, f.admin, "Bearer "+purgeToken)
	if code != http.StatusConflict || reply.OK || reply.Result != reloadRestart {
		t.Errorf("POST /reload changing listen = %d %+v, want 409 restart_needed", code, reply)
	}
	for _, field := range []string{":1: listen: cannot change", ":6: server.max_body_bytes: cannot change", ":7: cache.disk: cannot change"} {
		if !strings.Contains(strings.Join(reply.Errors, "\n"), s.path+field) {
			t.Errorf("reload errors %q do not name %s", reply.Errors, field)
		}
	}
	if len(reply.Errors) != 3 {
		t.Errorf("reload errors %q, want exactly the three fields changed", reply.Errors)
	}
	checkRouting(t, 2, f.public, nil, "stable")

	for result, want := range map[string]float64{reloadOK: 0, reloadInvalid: 1, reloadRestart: 1} {
		if got := metricValue(t, f.admin, `edged_config_reloads_total{result="`+result+`"}`); got != want {
			t.Errorf("edged_config_reloads_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := metricValue(t, f.admin, "edged_config_last_reload_successful"); got != 0 {
		t.Errorf("edged_config_last_reload_successful = %v after refusals, want 0", got)
	}

	// Back to the fields it started with: the weight change is applied.
	s.write(t, 100, false, "")
	if code, reply := postReload(t, f.admin, "Bearer "+purgeToken); code != http.StatusOK || !reply.OK || len(reply.Errors) != 0 {
		t.Errorf("POST /reload = %d %+v, want 200 ok", code, reply)
	}
	checkRouting(t, 3, f.public, nil, "canary")
	if got := metricValue(t, f.admin, "edged_config_last_reload_successful"); got != 1 {
		t.Errorf("edged_config_last_reload_successful = %v, want 1", got)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReloadOnSIGHUP runs the binary and sends it real SIGHUPs: a changed
// weight is applied, a broken file is refused and logged while the node
// keeps serving with what it had.
func TestReloadOnSIGHUP(t *testing.T) {
	s := newReloadSetup(t)
	s.write(t, 0, false, "log: {level: info, access: false}\n")
	writeBytes(t, s.path, []byte(strings.Replace(readFile(t, s.path), "log: {level: error, access: false}\n", "", 1)))
	p := runEdged(t, "-config", s.path)
	if p.public == "" {
		t.Fatalf("edged exited at start (%v)", p.exitErr)
	}
	// start_down: the stable server is up once its first check passed.
	waitUntil(t, func() bool {
		return metricValue(t, p.admin, `edged_origin_up{pool="stable",server="`+s.stable.URL+`"}`) == 1
	})
	checkRouting(t, 0, p.public, nil, "stable")

	hup := func(result string, want float64) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		metric := `edged_config_reloads_total{result="` + result + `"}`
		for deadline := time.Now().Add(10 * time.Second); metricValue(t, p.admin, metric) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not reach %v after SIGHUP", metric, want)
			}
		}
	}
	writeBytes(t, s.path, []byte(strings.Replace(readFile(t, s.path), "weight: 0}", "weight: 100}", 1)))
	hup(reloadOK, 1)
	checkRouting(t, 1, p.public, nil, "canary")

	writeBytes(t, s.path, []byte(strings.Replace(readFile(t, s.path), "weight: 100}", "weight: -1}", 1)))
	hup(reloadInvalid, 1)
	checkRouting(t, 2, p.public, nil, "canary")
	if log := p.stderr.String(); !strings.Contains(log, "reload refused") || !strings.Contains(log, "splits[0].weight") {
		t.Errorf("the refused reload was not logged with its field; stderr:\n%s", log)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// TestReloadTLS: a reload may name other certificate files, which new
// handshakes get at once, and may turn a site's hsts on, which the
// plain-HTTP listener must then strip (RFC 6797 §7.2): the stripping was
// decided once at start, so a reload would have sent HSTS over plain HTTP.
func TestReloadTLS(t *testing.T) {
	s := newReloadSetup(t)
	dir := t.TempDir()
	ca := newTestCA(t)
	oldCert, oldKey := filepath.Join(dir, "old.crt"), filepath.Join(dir, "old.key")
	newCert, newKey := filepath.Join(dir, "new.crt"), filepath.Join(dir, "new.key")
	ca.issue(t, oldCert, oldKey, "app.test")
	newSerial := ca.issue(t, newCert, newKey, "app.test")
	tlsYAML := func(cert, key string) string {
		return fmt.Sprintf("tls:\n  listen: 127.0.0.1:0\n  certificates: [{cert: %s, key: %s}]\n", cert, key)
	}
	s.write(t, 0, false, tlsYAML(oldCert, oldKey))
	f := s.serve(t)
	waitUntil(t, poolUp(f.n, "stable")) // start_down, as in TestReloadUnderLoad
	checkRouting(t, 0, f.public, nil, "stable")

	s.write(t, 0, false, tlsYAML(newCert, newKey))
	writeBytes(t, s.path, []byte(strings.Replace(readFile(t, s.path), "  - name: app\n", "  - name: app\n    hsts: max-age=600\n", 1)))
	if err := f.n.reload(); err != nil {
		t.Fatal(err)
	}
	client, tr := tlsClient(ca, f.n.tlsLn.Addr().String())
	defer tr.CloseIdleConnections()
	resp, body := get(t, client, "https://app.test/x")
	if body != "stable" || servedSerial(resp) != newSerial.String() || resp.Header.Get("Strict-Transport-Security") != "max-age=600" {
		t.Errorf("HTTPS after reload: %q, certificate %s, HSTS %q; want stable, certificate %s, HSTS max-age=600",
			body, servedSerial(resp), resp.Header.Get("Strict-Transport-Security"), newSerial)
	}
	resp, body = get(t, http.DefaultClient, f.public+"/x", "Host", "app.test")
	if body != "stable" || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("plain HTTP after reload: %q with Strict-Transport-Security %q, want none", body, resp.Header.Get("Strict-Transport-Security"))
	}
}

// TestReloadForwardRole: the forward role builds its upstream once; a
// reload applies log.level and forward.rules (through the proxy: a domain
// the new rules deny is refused, the one the old rules denied is let
// through, as Squid's reconfigure does, where it used to need a restart
// that cut every open tunnel), refuses bad rules naming the field and
// keeps the ones in use, and names a change of a shared field that only
// a restart applies.
func TestReloadForwardRole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "forward.yaml")
	conf := fmt.Sprintf("role: forward\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata: %s\nlog: {level: error, access: false}\n"+
		"forward:\n  rules:\n    list:\n      - {name: no-blocked, action: deny, domains: [blocked.test]}\n", filepath.Join(dir, "data"))
	writeBytes(t, path, []byte(conf))
	f := serveConfigFile(t, path)

	writeBytes(t, path, []byte(strings.Replace(conf, "level: error", "level: debug", 1)))
	if err := f.n.reload(); err != nil {
		t.Fatalf("reload of log.level: %v", err)
	}
	if !f.n.log.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("log.level debug was not applied")
	}
	// The proxy's answer for a domain: the rule that refused it, or "" for
	// one that went on to the destination (which does not resolve: 502).
	refusedBy := func(host string) string {
		t.Helper()
		proxy, _ := url.Parse(f.public)
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 20 * time.Second}
		resp, err := c.Get("http://" + host + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden {
			return resp.Header.Get("X-Edged-Rule")
		}
		return ""
	}
	if got := refusedBy("blocked.test"); got != "no-blocked" {
		t.Fatalf("before the reload, blocked.test refused by %q, want no-blocked", got)
	}
	writeBytes(t, path, []byte(strings.Replace(conf, "blocked.test", "other.test", 1)))
	if err := f.n.reload(); err != nil {
		t.Fatalf("reload changing forward.rules: %v", err)
	}
	if got, other := refusedBy("blocked.test"), refusedBy("other.test"); got != "" || other != "no-blocked" {
		t.Errorf("after the reload: blocked.test refused by %q, other.test by %q; want only other.test, by no-blocked", got, other)
	}
	writeBytes(t, path, []byte(strings.Replace(conf, "action: deny", "action: block", 1)))
	if err := f.n.reload(); err == nil || !strings.Contains(err.Error(), "forward.rules.list[0].action") {
		t.Errorf("reload with a bad rule: %v, want it refused naming forward.rules.list[0].action", err)
	}
	if other := refusedBy("other.test"); other != "no-blocked" {
		t.Errorf("after a refused reload, other.test refused by %q, want the rules in use (no-blocked)", other)
	}
	// The forward section reloads whole (TestReloadForwardSettings); a
	// shared field that only a restart applies is named.
	writeBytes(t, path, []byte(strings.Replace(conf, "forward:\n", "upstream: {fetch_timeout: 1m}\nforward:\n", 1)))
	if err := f.n.reload(); err == nil || !strings.Contains(err.Error(), "upstream.fetch_timeout") || !strings.Contains(err.Error(), "cannot change") {
		t.Errorf("reload changing upstream.fetch_timeout: %v, want it refused naming upstream.fetch_timeout", err)
	}
}

// TestReloadForwardUsers: a reload reads forward.auth.htpasswd again, so an
// office adds or removes a proxy user, or changes a password, without the
// restart that cut every open tunnel; a file that became bad is refused,
// naming the field, file and line, and the users in use stay.
func TestReloadForwardUsers(t *testing.T) {
	origin, _ := countingOrigin(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "htpasswd")
	line := func(user, pass string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return user + ":" + string(h) + "\n"
	}
	writeBytes(t, users, []byte(line("alice", "a")))
	path := filepath.Join(dir, "forward.yaml")
	writeBytes(t, path, []byte(fmt.Sprintf("role: forward\nlisten: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata: %s\nlog: {level: error, access: false}\n"+
		"forward:\n  auth: {htpasswd: %s}\n  dial: {allow_networks: [127.0.0.1/32]}\n", filepath.Join(dir, "data"), users)))
	f := serveConfigFile(t, path)
	status := func(user, pass string) int {
		t.Helper()
		proxy, _ := url.Parse(f.public)
		proxy.User = url.UserPassword(user, pass)
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}, Timeout: 20 * time.Second}
		resp, err := c.Get(origin.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if a, b := status("alice", "a"), status("bob", "b"); a != 200 || b != http.StatusProxyAuthRequired {
		t.Fatalf("before the reload: alice %d, bob %d; want 200, 407", a, b)
	}
	writeBytes(t, users, []byte(line("bob", "b")))
	if err := f.n.reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if a, b := status("alice", "a"), status("bob", "b"); a != http.StatusProxyAuthRequired || b != 200 {
		t.Errorf("after the reload: alice %d, bob %d; want 407, 200", a, b)
	}
	writeBytes(t, users, []byte("carol:plaintext\n"))
	if err := f.n.reload(); err == nil || !strings.Contains(err.Error(), "forward.auth.htpasswd: "+users+":1: user \"carol\": not a bcrypt hash") {
		t.Errorf("reload with a bad file: %v, want it refused naming the field, file and line", err)
	}
	if b := status("bob", "b"); b != 200 {
		t.Errorf("after a refused reload: bob %d, want the users in use (200)", b)
	}
}

// TestReloadSharedRateLimit: a route's rate limit marked shared, added by
// a reload to a node that had none, is shared over the bus from then on,
// and a later reload hands the sharer the new routes' limiters: the new
// budget is the one in force, and what another node reports is taken from
// it (with the old limiters kept by the sharer, the other node's use would
// drain a bucket no request reads).
func TestReloadSharedRateLimit(t *testing.T) {
	s := newReloadSetup(t)
	s.write(t, 0, false, "")
	f := s.serve(t)
	waitUntil(t, poolUp(f.n, "stable")) // start_down, as in TestReloadUnderLoad
	if f.n.share != nil {
		t.Fatal("a sharer without any shared rate limit")
	}
	shared := func(limit string) {
		t.Helper()
		writeBytes(t, s.path, []byte(strings.Replace(readFile(t, s.path), "        pool: stable\n",
			"        pool: stable\n        rate_limit: {"+limit+", shared: true}\n", 1)))
	}
	shared("rate: 1000")
	if err := f.n.reload(); err != nil {
		t.Fatal(err)
	}
	if f.n.share == nil {
		t.Fatal("the reload added a shared rate limit, but nothing shares it")
	}
	// One token every 1000 s: only the burst of 3 counts.
	const burst = 3
	s.write(t, 0, false, "")
	shared(fmt.Sprintf(`rate: 0.001, burst: %d, key: "header:X-Client"`, burst))
	if err := f.n.reload(); err != nil {
		t.Fatal(err)
	}
	status := func(client string) int {
		t.Helper()
		resp, _ := fetch(t, f.public+"/limited", "Host", "app.test", "X-Client", client)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Errorf("client %s: 429 without Retry-After", client)
		}
		return resp.StatusCode
	}
	for i := range burst {
		if got := status("local"); got != http.StatusOK {
			t.Fatalf("request %d of the new burst of %d: %d", i, burst, got)
		}
	}
	if got := status("local"); got != http.StatusTooManyRequests {
		t.Errorf("request past the new burst of %d: %d, want 429", burst, got)
	}

	// Another node of the fleet spends client "remote"'s whole budget on
	// the same route ("app /") and reports it over the bus.
	other, err := ratelimit.New(ratelimit.Options{Rate: 0.001, Burst: burst, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	for range burst {
		if ok, _ := other.AllowKey(ratelimit.KindHeader, "remote", time.Now()); !ok {
			t.Fatal("the other node's own limiter refused within its burst")
		}
	}
	applied := f.n.share.Applied()
	peer, err := fleet.New(fleet.Options{Conn: fleet.NATS(f.n.bus.Conn()), Limiters: map[string]*ratelimit.Limiter{"app /": other}})
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Close(); err != nil { // its last report goes out
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return f.n.share.Applied() >= applied+burst })
	if got := status("remote"); got != http.StatusTooManyRequests {
		t.Errorf("client remote after another node spent its budget: %d, want 429: the sharer does not feed the new limiter", got)
	}
	if got := status("third"); got != http.StatusOK {
		t.Errorf("a client with its own budget: %d, want 200", got)
	}
}

// TestReloadACMEHosts: tls.acme's manager asks certificates for the hosts
// it was started with, by default the sites' hosts; a reload that adds a
// site host is refused naming tls.acme, rather than leaving that host
// without a certificate in silence. One that keeps them passes.
func TestReloadACMEHosts(t *testing.T) {
	parse := func(hosts string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte("tls:\n  acme: {email: ops@example.com}\nsites:\n  - name: a\n    hosts: ["+hosts+"]\n    routes: [{path: /}]\n"), "edged.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	n := &node{cfg: parse("a.test")}
	n.acmeHosts = acmeHosts(n.cfg, func(string) bool { return false })
	if err := n.acmeHostsKept(parse("a.test, \"*.b.test\""), nil); err != nil {
		t.Errorf("a wildcard host, which ACME does not ask for: %v", err)
	}
	err := n.acmeHostsKept(parse("a.test, c.test"), nil)
	if err == nil || !strings.Contains(err.Error(), "tls.acme") || !strings.Contains(err.Error(), "c.test") {
		t.Errorf("a site host added under tls.acme: %v, want a refusal naming tls.acme and c.test", err)
	}
}
