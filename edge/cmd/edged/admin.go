package main

import "net/http"

// adminMux is the admin listener's mux. It remembers the patterns
// registered on it, so that TestAdminAccessPolicy can check that its table
// of who may use each route covers every route there is.
type adminMux struct {
	*http.ServeMux
	patterns []string
}

func newAdminMux() *adminMux { return &adminMux{ServeMux: http.NewServeMux()} }

func (m *adminMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *adminMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}
