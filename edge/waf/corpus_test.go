package waf

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/corazawaf/coraza/v3/types"
	"gopkg.in/yaml.v3"
)

// corpusRequest is one request of the CRS's regression tests (go-ftw's
// YAML, shipped in coraza-coreruleset/v4/tests).
type corpusRequest struct {
	Name    string
	Method  string            `yaml:"method"`
	URI     string            `yaml:"uri"`
	Version string            `yaml:"version"`
	Headers map[string]string `yaml:"headers"`
	Data    string            `yaml:"data"`
	// Autocomplete false sends the fields as they are: no Content-Length
	// added.
	Autocomplete *bool `yaml:"autocomplete_headers"`
	// EncodedRequest is a whole request, base64: left out (10 of them).
	EncodedRequest string `yaml:"encoded_request"`
	// Expect and NotExpect are the rules the CRS's tests want to match and
	// not to match (the stage's output.log).
	Expect, NotExpect []int
}

var loadCorpus = sync.OnceValues(func() ([]corpusRequest, error) {
	var reqs []corpusRequest
	err := fs.WalkDir(crstests.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".yaml" || !strings.HasPrefix(p, "REQUEST-") {
			return err
		}
		b, err := fs.ReadFile(crstests.FS, p)
		if err != nil {
			return err
		}
		var f struct {
			Tests []struct {
				TestID int `yaml:"test_id"`
				Stages []struct {
					Input  corpusRequest `yaml:"input"`
					Output struct {
						Log struct {
							Expect    []int `yaml:"expect_ids"`
							NotExpect []int `yaml:"no_expect_ids"`
						} `yaml:"log"`
					} `yaml:"output"`
				} `yaml:"stages"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, tc := range f.Tests {
			for i, s := range tc.Stages {
				in := s.Input
				if in.EncodedRequest != "" {
					continue
				}
				in.Expect, in.NotExpect = s.Output.Log.Expect, s.Output.Log.NotExpect
				in.Name = fmt.Sprintf("%s#%d.%d", path.Base(p), tc.TestID, i)
				reqs = append(reqs, in)
			}
		}
		return nil
	})
	return reqs, err
})

// request builds c as the edge hands it to Inspect.
func (c corpusRequest) request() *http.Request {
	r := &http.Request{Method: c.Method, RequestURI: c.URI, URL: &url.URL{Path: "/"}, Proto: c.Version,
		Header: http.Header{}, Body: http.NoBody}
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	if r.RequestURI == "" {
		r.RequestURI = "/"
	}
	if r.Proto == "" {
		r.Proto = "HTTP/1.1"
	}
	for name, v := range c.Headers {
		if strings.EqualFold(name, "Host") {
			r.Host = v
			continue
		}
		r.Header[name] = append(r.Header[name], v)
	}
	if c.Data != "" {
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader(c.Data)), int64(len(c.Data))
		// As go-ftw completes it, and net/http keeps it in the header.
		if (c.Autocomplete == nil || *c.Autocomplete) && r.Header.Get("Content-Length") == "" && r.Header.Get("Transfer-Encoding") == "" {
			r.Header.Set("Content-Length", strconv.Itoa(len(c.Data)))
		}
	}
	return r
}

// outcome is what a request got from a rule set: the verdict and every
// rule that matched, logged or not, in id order (the order headers are
// added in, a map's, may reorder matches within a rule).
type outcome struct {
	action Action
	status int
	rules  []int
}

func outcomeOf(w *WAF, r *http.Request) outcome {
	var o outcome
	v := w.inspect(r, "", client, nil, func(tx types.Transaction) {
		for _, m := range tx.MatchedRules() {
			o.rules = append(o.rules, m.Rule().ID())
		}
	})
	slices.Sort(o.rules)
	o.action, o.status = v.Action, v.Status
	return o
}

// corpusNeedsSetup are the CRS tests whose outcome is not the rules' alone:
// they need settings of the CRS's own test setup, which edged leaves at the
// CRS's defaults (UTF-8 validation for 920250; argument count and length
// limits for 920360-920410; the allowed HTTP versions for 920430), or send
// fields as no request that reaches the WAF through net/http carries them
// (920181, 920640, 921140).
var corpusNeedsSetup = map[string]bool{
	"920250.yaml#1.0": true, "920250.yaml#2.0": true, "920250.yaml#3.0": true, "920250.yaml#4.0": true,
	"920360.yaml#1.0": true, "920370.yaml#1.0": true, "920380.yaml#1.0": true, "920390.yaml#1.0": true,
	"920400.yaml#1.0": true, "920410.yaml#1.0": true, "920430.yaml#5.0": true,
	"920181.yaml#1.0": true, "920640.yaml#5.0": true, "921140.yaml#1.0": true,
}

// TestCRSRegressionCorpus runs the CRS's own regression tests (the request
// of each, some 4,500 attacks and clean requests for every REQUEST rule)
// through Inspect, every rule at paranoia 4 in detect mode, and requires
// the rules each test expects to match and those it expects not to match
// not to: edged hands Coraza the request the CRS was tested with (fields,
// Host, body), and its settings and tuning take nothing from the CRS.
func TestCRSRegressionCorpus(t *testing.T) {
	corpus, err := loadCorpus()
	if err != nil {
		t.Fatal(err)
	}
	step := 1
	if raceEnabled || testing.Short() {
		step = 128 // a sample: some 35 requests (the race detector makes Coraza ten times slower)
	}
	w := mustWAF(t, Options{Mode: ModeDetect, ParanoiaLevel: 4})
	checked := 0
	for i := 0; i < len(corpus); i += step {
		c := corpus[i]
		if len(c.Expect) == 0 && len(c.NotExpect) == 0 || corpusNeedsSetup[c.Name] {
			continue
		}
		checked++
		got := outcomeOf(w, c.request())
		for _, id := range c.Expect {
			if !slices.Contains(got.rules, id) {
				t.Errorf("%s (%s %.80q): rule %d did not match (matched %v)", c.Name, c.Method, c.URI, id, got.rules)
			}
		}
		for _, id := range c.NotExpect {
			if slices.Contains(got.rules, id) {
				t.Errorf("%s (%s %.80q): rule %d matched, the CRS expects it not to", c.Name, c.Method, c.URI, id)
			}
		}
	}
	if checked < len(corpus)/step*9/10 {
		t.Errorf("%d of %d requests checked", checked, len(corpus)/step)
	}
}

// TestTuningFindsTheSame runs the CRS's regression corpus through the
// tuned rule set and the one that ships, and requires the same outcome for
// each request: blocking at paranoia 1 (edged's default) and detecting at
// paranoia 4 (every rule runs, none stops the others).
func TestTuningFindsTheSame(t *testing.T) {
	corpus, err := loadCorpus()
	if err != nil {
		t.Fatal(err)
	}
	if len(corpus) < 4000 {
		t.Fatalf("%d requests in the corpus, want the CRS's 4,600 or so", len(corpus))
	}
	// The tuning concerns the XSS rules: all of their corpus runs, and a
	// sample of the rest (all of it is some 4,600 requests, minutes here).
	xss, other := 1, 8
	if raceEnabled || testing.Short() {
		xss, other = 32, 512
	}
	var sample []corpusRequest
	for i, c := range append(corpus, xssPaths...) {
		if i%other == 0 || strings.HasPrefix(c.Name, "941") && i%xss == 0 {
			sample = append(sample, c)
		}
	}
	for _, o := range []Options{{Mode: ModeBlock}, {Mode: ModeDetect, ParanoiaLevel: 4}} {
		t.Run(fmt.Sprintf("%s-pl%d", o.Mode, max(o.ParanoiaLevel, 1)), func(t *testing.T) {
			tuned, shipped := mustWAF(t, o), mustShipped(t, o)
			matched := 0
			for _, c := range sample {
				got, want := outcomeOf(tuned, c.request()), outcomeOf(shipped, c.request())
				if !slices.Equal(got.rules, want.rules) || got.action != want.action || got.status != want.status {
					t.Errorf("%s (%s %s): tuned %+v, shipped %+v", c.Name, c.Method, c.URI, got, want)
				}
				if want.action != Pass {
					matched++
				}
			}
			// The corpus is mostly attacks: a rule set that found nothing
			// would agree with itself too.
			if matched < len(sample)/2 {
				t.Errorf("%d of %d requests refused or detected, want most", matched, len(sample))
			}
		})
	}
}

// xssPaths are paths for 941010 and the rules it tunes: of its safe
// characters only (the XSS rules do not look at them), and with XSS in
// them (they do).
var xssPaths = func() []corpusRequest {
	var reqs []corpusRequest
	for _, p := range []string{"/blog/document.write-explained", "/a/b_c-d.e/f g", "/window.location", "/x/onerror",
		"/x/<script>alert(1)</script>", "/x/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/x/<img src=x onerror=alert(1)>",
		"/x/javascript:alert(1)", "/x/\"onmouseover=\"alert(1)", "/x/document.cookie;", "/x/<svg/onload=alert(1)>"} {
		reqs = append(reqs, corpusRequest{Name: "941-path " + p, URI: p, Headers: map[string]string{"Host": "shop.example", "User-Agent": "Mozilla/5.0"}})
	}
	return reqs
}()

var shipped = struct {
	sync.Mutex
	wafs map[string]*WAF
}{wafs: map[string]*WAF{}}

// mustShipped is the WAF for o with the CRS as it ships: no tuning.
func mustShipped(tb testing.TB, o Options) *WAF {
	tb.Helper()
	shipped.Lock()
	defer shipped.Unlock()
	if w, ok := shipped.wafs[o.key()]; ok {
		return w
	}
	o = o.withDefaults()
	cw, err := compile(o, false)
	if err != nil {
		tb.Fatal(err)
	}
	w := &WAF{opts: o, waf: cw}
	shipped.wafs[o.key()] = w
	return w
}

// The check that guards the rewrite of 941010 refuses a CRS whose shapes
// changed.
func TestTunedRulesCheck(t *testing.T) {
	orig := `SecRule REQUEST_FILENAME "!@validateByteRange 20,45-47,48-57,65-90,95,97-122" "id:941010,phase:1,pass,t:none,nolog,ctl:ruleRemoveTargetByTag=xss-perf-disable;REQUEST_FILENAME"`
	good := tunedRules{original941010: orig, tagged: []int{941110, 941100}, inRange: []int{941100, 941110}}
	if err := good.check(); err != nil {
		t.Errorf("the CRS's shape: %v", err)
	}
	for name, tr := range map[string]tunedRules{
		"condition changed": {original941010: strings.Replace(orig, "20,", "", 1), tagged: []int{941100}, inRange: []int{941100}},
		"ctl changed":       {original941010: strings.Replace(orig, "ByTag", "ById", 1), tagged: []int{941100}, inRange: []int{941100}},
		"no 941010":         {tagged: []int{941100}, inRange: []int{941100}},
		"untagged in range": {original941010: orig, tagged: []int{941100}, inRange: []int{941100, 941105}},
		"tagged elsewhere":  {original941010: orig, tagged: []int{941100, 941500}, inRange: []int{941100}},
		"no tagged rule":    {original941010: orig},
	} {
		if err := tr.check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
