package policy

import (
	"net/url"
	"slices"
	"testing"
)

func TestIsUnsafe(t *testing.T) {
	for m, want := range map[string]bool{"GET": false, "HEAD": false, "OPTIONS": false, "TRACE": false,
		"POST": true, "PUT": true, "DELETE": true, "PATCH": true, "M-SEARCH": true} {
		if IsUnsafe(m) != want {
			t.Errorf("RFC 9110 §9.2.1 IsUnsafe(%s) != %v", m, want)
		}
	}
}

func TestInvalidates(t *testing.T) {
	base, err := ParseTarget("https", "example.com", &url.URL{Path: "/a/b"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		status int
		h      []string
		want   []string
	}{
		{"§4.4 success invalidates the target", 200, nil, []string{"https://example.com/a/b"}},
		{"§4.4 redirect status invalidates", 303, nil, []string{"https://example.com/a/b"}},
		{"§4.4 error does not invalidate", 500, nil, nil},
		{"§4.4 client error does not invalidate", 404, nil, nil},
		{"§4.4 relative Location", 201, []string{"Location: c?x=1"}, []string{"https://example.com/a/b", "https://example.com/a/c?x=1"}},
		{"§4.4 Content-Location same host absolute", 200, []string{"Content-Location: https://EXAMPLE.com:443/z"}, []string{"https://example.com/a/b", "https://example.com/z"}},
		{"§4.4 Location on another host ignored", 201, []string{"Location: https://evil.example/a"}, []string{"https://example.com/a/b"}},
		{"§4.4 Location on another scheme ignored", 201, []string{"Location: http://example.com/a"}, []string{"https://example.com/a/b"}},
		{"§4.4 Location equal to target not duplicated", 200, []string{"Location: /a/b"}, []string{"https://example.com/a/b"}},
		{"§4.4 both fields", 200, []string{"Location: /l", "Content-Location: /cl"}, []string{"https://example.com/a/b", "https://example.com/l", "https://example.com/cl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, x := range Invalidates(base, tt.status, hdr(t, tt.h...)) {
				got = append(got, x.Key())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
