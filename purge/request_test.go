package purge

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Request
		wantErr error
	}{
		{"url", `{"urls":["http://www.example.com/a"]}`, Request{URLs: []string{"http://www.example.com/a"}}, nil},
		{"https url with port and query", `{"urls":["https://www.example.com:8443/a?b=c"],"soft":true}`,
			Request{URLs: []string{"https://www.example.com:8443/a?b=c"}, Soft: true}, nil},
		{"every kind", `{"urls":["http://a.example/x"],"prefixes":["http://a.example/img/"],"tags":["product-42"],"hosts":["a.example:8080"],"all":false}`,
			Request{URLs: []string{"http://a.example/x"}, Prefixes: []string{"http://a.example/img/"}, Tags: []string{"product-42"}, Hosts: []string{"a.example:8080"}}, nil},
		{"all with a prefix", `{"all":true,"prefixes":["http://a.example/img/"]}`, Request{}, ErrInvalid},
		{"all with a url, soft", `{"urls":["http://a.example/x"],"all":true,"soft":true}`, Request{}, ErrInvalid},
		{"all alone", `{"all":true}`, Request{All: true}, nil},
		{"ipv6 host", `{"hosts":["[::1]:8080","[2001:db8::1]"]}`, Request{Hosts: []string{"[::1]:8080", "[2001:db8::1]"}}, nil},
		{"malformed json", `{"urls":[`, Request{}, ErrInvalid},
		{"not an object", `[]`, Request{}, ErrInvalid},
		{"unknown field", `{"url":["http://a.example/"]}`, Request{}, ErrInvalid},
		{"trailing value", `{"all":true}{"all":true}`, Request{}, ErrInvalid},
		{"trailing garbage", `{"all":true} x`, Request{}, ErrInvalid},
		{"empty object", `{}`, Request{}, ErrInvalid},
		{"null", `null`, Request{}, ErrInvalid},
		{"empty body", ``, Request{}, ErrInvalid},
		{"soft only", `{"soft":true}`, Request{}, ErrInvalid},
		{"all false only", `{"all":false,"urls":[]}`, Request{}, ErrInvalid},
		{"relative url", `{"urls":["/a"]}`, Request{}, ErrInvalid},
		{"url without host", `{"urls":["http:///a"]}`, Request{}, ErrInvalid},
		{"url other scheme", `{"urls":["ftp://a.example/a"]}`, Request{}, ErrInvalid},
		{"url opaque", `{"urls":["http:a.example/a"]}`, Request{}, ErrInvalid},
		{"url with user", `{"urls":["http://u:p@a.example/a"]}`, Request{}, ErrInvalid},
		{"url with fragment", `{"urls":["http://a.example/a#x"]}`, Request{}, ErrInvalid},
		{"url bad port", `{"urls":["http://a.example:99999/a"]}`, Request{}, ErrInvalid},
		{"prefix relative", `{"prefixes":["img/"]}`, Request{}, ErrInvalid},
		{"prefix without host", `{"prefixes":["https://"]}`, Request{}, ErrInvalid},
		{"host with scheme", `{"hosts":["http://a.example"]}`, Request{}, ErrInvalid},
		{"host with path", `{"hosts":["a.example/x"]}`, Request{}, ErrInvalid},
		{"empty host", `{"hosts":[""]}`, Request{}, ErrInvalid},
		{"empty tag", `{"tags":[""]}`, Request{}, ErrInvalid},
		{"tag with space", `{"tags":["a b"]}`, Request{}, ErrInvalid},
		{"tag with tab", `{"tags":["a\tb"]}`, Request{}, ErrInvalid},
		{"wrong type", `{"all":"yes"}`, Request{}, ErrInvalid},
		{"too many items", `{"tags":["t"` + strings.Repeat(`,"t"`, MaxItems) + `]}`, Request{}, ErrInvalid},
		{"item too long", `{"tags":["` + strings.Repeat("t", MaxItemLen+1) + `"]}`, Request{}, ErrInvalid},
		{"body too large", `{"tags":["` + strings.Repeat("t", MaxBodySize) + `"]}`, Request{}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest(strings.NewReader(tt.body))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestParseRequestMessages: the API's clients are scripts and people, so
// each refusal says what to change in their terms, not Go's (issue 12: it
// answered `json: json: unknown field "url"` and named Go struct fields).
func TestParseRequestMessages(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"url":["http://a.example/"]}`, `unknown field "url" (did you mean "urls"?)`},
		{`{"prefix":["http://a.example/"]}`, `unknown field "prefix" (did you mean "prefixes"?)`},
		{`{"URLS":["http://a.example/"]}`, `unknown field "URLS" (did you mean "urls"?)`},
		{`{"surrogate_keys":["t"]}`, `unknown field "surrogate_keys" (did you mean "tags"?)`},
		{`{"zzzzzz":1}`, `unknown field "zzzzzz" (the fields are all, hosts, prefixes, soft, tags, urls)`},
		{`{"urls":"http://a.example/"}`, `field "urls" must be an array of strings`},
		{`{"tags":[1]}`, `field "tags" must be an array of strings`},
		{`{"all":"yes"}`, `field "all" must be true or false`},
		{`{"urls":[`, `the JSON ends too early`},
		{`{"urls":x}`, `not valid JSON at byte 9: invalid character 'x'`},
		{``, `empty body: send a JSON object`},
		{`["http://a.example/"]`, `the body must be a JSON object`},
		{`{"all":true}{}`, `trailing data after the request object`},
		{`{"all":false,"tags":["t"],"all":true}`, `field "all" given twice`},
		// Issue 12, finding 10: these said "empty purge" and "bad port".
		{`null`, `the body must be a JSON object such as {"urls":[...]}, not null`},
		{`{"hosts":["http://x/"]}`, `want a host name with an optional port, such as www.example.com`},
		{`{"all":true,"prefixes":["http://a.example/img/"]}`, `all (purge everything) cannot be combined with prefixes`},
		{`{"all":true,"urls":["http://a.example/"],"tags":["t"],"hosts":["h"]}`, `cannot be combined with urls, tags and hosts`},
	}
	for _, tt := range tests {
		_, err := ParseRequest(strings.NewReader(tt.body))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalid containing %q", tt.body, err, tt.want)
			continue
		}
		for _, internal := range []string{"json:", "Go ", "struct", "Request."} {
			if strings.Contains(err.Error(), internal) {
				t.Errorf("%s: error %q shows Go internals (%q)", tt.body, err, internal)
			}
		}
	}
}

func TestRequestKinds(t *testing.T) {
	tests := []struct {
		r    Request
		want []string
	}{
		{Request{URLs: []string{"u"}}, []string{"url"}},
		{Request{Tags: []string{"t"}, All: true}, []string{"tag", "all"}},
		{Request{URLs: []string{"u"}, Prefixes: []string{"p"}, Tags: []string{"t"}, Hosts: []string{"h"}}, []string{"url", "prefix", "tag", "host"}},
	}
	for _, tt := range tests {
		if got := tt.r.Kinds(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Kinds(%+v) = %v, want %v", tt.r, got, tt.want)
		}
	}
}

// FuzzParseRequest: ParseRequest never panics, and whatever it accepts is
// valid and survives an encode/decode round trip as the same request.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"urls":["http://www.example.com/a"]}`,
		`{"prefixes":["https://a.example/img/"],"soft":true}`,
		`{"tags":["t1","t2"],"hosts":["a.example:80","[::1]"]}`,
		`{"all":true}`,
		`{"urls":["http://u@a/"]}`,
		`{}`, `null`, `{"all":true} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(strings.NewReader(string(body)))
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted request does not validate: %v", err)
		}
		data, err := encodeEvent(event{ID: "x", Request: r})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := decodeEvent(data)
		if err != nil {
			t.Fatalf("accepted request does not survive the bus: %v", err)
		}
		if !reflect.DeepEqual(normalize(ev.Request), normalize(r)) {
			t.Fatalf("round trip: got %+v, want %+v", ev.Request, r)
		}
	})
}

// normalize maps empty slices to nil (omitempty drops them).
func normalize(r Request) Request {
	for _, s := range []*[]string{&r.URLs, &r.Prefixes, &r.Tags, &r.Hosts} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	return r
}
