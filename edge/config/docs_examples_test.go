package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDocsYAMLExamplesValidate checks every ```yaml snippet of the README
// and docs/ against the schema and validation, as a reader who pastes one
// into a config would. Snippets are fragments (a routes list, a pool), so
// each is completed first: a bare routes list goes into a site, pools the
// routes name but the snippet does not define get one server, and a node
// that is not a forward proxy gets an origin for the routes without a pool.
// docs/config.md's WAF/identity snippet once said path_prefix, a field that
// does not exist, and edged -t refused it.
func TestDocsYAMLExamplesValidate(t *testing.T) {
	t.Setenv("API_JWT_SECRET", strings.Repeat("s", 32)) // the README's route auth
	files := []string{"../../README.md"}
	docs, err := os.ReadDir("../../docs")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if strings.HasSuffix(d.Name(), ".md") {
			files = append(files, "../../docs/"+d.Name())
		}
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range yamlBlocks(string(data)) {
			n++
			name := fmt.Sprintf("%s:%d", strings.TrimPrefix(f, "../../"), b.line)
			full, err := completeFragment(b.text)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			c, err := Parse(full, name)
			if err == nil {
				err = c.Validate()
			}
			if err != nil {
				t.Errorf("%s: the example does not validate: %v\ncompleted as:\n%s", name, err, full)
			}
		}
	}
	if n < 10 {
		t.Fatalf("found only %d yaml examples", n)
	}
}

type yamlBlock struct {
	line int // of the opening fence
	text string
}

var fence = regexp.MustCompile("(?m)^```yaml\n((?s:.*?))^```")

func yamlBlocks(md string) []yamlBlock {
	var out []yamlBlock
	for _, m := range fence.FindAllStringSubmatchIndex(md, -1) {
		out = append(out, yamlBlock{
			line: strings.Count(md[:m[0]], "\n") + 1,
			text: md[m[2]:m[3]],
		})
	}
	return out
}

// completeFragment turns a documentation snippet into a whole config.
func completeFragment(text string) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	if doc == nil {
		return nil, fmt.Errorf("empty example")
	}
	if routes, ok := doc["routes"]; ok {
		delete(doc, "routes")
		doc["sites"] = []any{map[string]any{"name": "docs", "hosts": []any{"docs.example"}, "routes": routes}}
	}
	if _, ok := doc["forward"]; ok && doc["role"] == nil {
		doc["role"] = "forward"
	}
	pools, _ := doc["pools"].(map[string]any)
	if pools == nil {
		pools = map[string]any{}
	}
	if doc["sites"] == nil {
		for name := range pools { // a pools-only snippet: one route uses each
			doc["sites"] = append(asList(doc["sites"]), map[string]any{"name": "docs-" + name,
				"hosts": []any{name + ".docs.example"}, "routes": []any{map[string]any{"path": "/", "pool": name}}})
		}
	}
	needOrigin := doc["sites"] == nil
	for _, s := range asList(doc["sites"]) {
		site, _ := s.(map[string]any)
		routes, _ := site["routes"].([]any)
		for _, r := range routes {
			route, _ := r.(map[string]any)
			named := []any{route["pool"]}
			splits, _ := route["splits"].([]any)
			for _, sp := range splits {
				split, _ := sp.(map[string]any)
				named = append(named, split["pool"])
			}
			if route["pool"] == nil {
				needOrigin = true
			}
			for _, p := range named {
				if p, ok := p.(string); ok && pools[p] == nil {
					pools[p] = map[string]any{"servers": []any{map[string]any{"url": "http://127.0.0.1:9"}}}
				}
			}
		}
	}
	if len(pools) > 0 {
		doc["pools"] = pools
	}
	if needOrigin && doc["role"] != "forward" && doc["upstream"] == nil {
		doc["upstream"] = map[string]any{"origin": "http://127.0.0.1:9"}
	}
	return yaml.Marshal(doc)
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
