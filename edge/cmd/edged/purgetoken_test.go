package main

import "testing"

// TestGuessableToken: a short purge token is reported when the admin
// listener can be reached from another machine, and not for a loopback-only
// listener (the demo's "demo") or a long token.
func TestGuessableToken(t *testing.T) {
	long := "4f1c9e0d8a7b6c5d4e3f2a1b0c9d8e7f"
	for _, tt := range []struct {
		token, admin string
		want         bool
	}{
		{"demo", "127.0.0.1:8081", false},
		{"demo", "[::1]:8081", false},
		{"demo", "localhost:8081", false},
		{"demo", ":8081", true},
		{"demo", "0.0.0.0:8081", true},
		{"demo", "10.0.0.5:8081", true},
		{"demo", "[::]:8081", true},
		{"demo", "admin.example:8081", true},
		{"demo", "not an address", true},
		{"0123456789abcde", "10.0.0.5:8081", true},
		{"0123456789abcdef", "10.0.0.5:8081", false},
		{long, ":8081", false},
	} {
		if got := guessableToken(tt.token, tt.admin); got != tt.want {
			t.Errorf("guessableToken(%q, %q) = %v, want %v", tt.token, tt.admin, got, tt.want)
		}
	}
}
