package origin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"edged/origin"
)

func Example() {
	// An origin that echoes what the proxy told it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s via=%q xff=%q", r.Host, r.RequestURI, r.Header.Get("Via"), r.Header.Get("X-Forwarded-For"))
	}))
	defer srv.Close()

	c, err := origin.New(origin.Options{Origin: srv.URL, Via: "edged"})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	resp, err := c.Do(context.Background(), &origin.Outbound{
		Method:     http.MethodGet,
		Host:       "www.example.com",
		RequestURI: "/img/a%20b.png?w=100",
		ClientIP:   "192.0.2.7:40000",
		Proto:      "https",
		Key:        "https://www.example.com/img/a%20b.png?w=100",
	})
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	fmt.Println(resp.Header.Get("Via"))
	// Output:
	// www.example.com /img/a%20b.png?w=100 via="1.1 edged" xff="192.0.2.7"
	// 1.1 edged
}

func ExampleNewPool() {
	// Two origin servers behind one pool; routes share it.
	var servers []origin.Server
	for _, name := range []string{"a", "b"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		}))
		defer srv.Close()
		servers = append(servers, origin.Server{URL: srv.URL})
	}
	pool, err := origin.NewPool(origin.PoolOptions{
		Name:      "api",
		Servers:   servers,
		Algorithm: origin.RoundRobin,
		Health:    origin.HealthCheck{Path: "/healthz"}, // every 10s once started
	})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	// pool.Start(ctx) would start the health checks.

	c, err := origin.New(origin.Options{Pool: pool, Via: "edged"})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	var got []string
	for range 4 {
		resp, err := c.Do(context.Background(), &origin.Outbound{RequestURI: "/", Key: "k"})
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, string(body))
	}
	fmt.Println(strings.Join(got, " "))
	_, err = origin.NewPool(origin.PoolOptions{Name: "api", Servers: servers, Algorithm: "fastest"})
	fmt.Println(err)
	// Output:
	// a b a b
	// origin: pool "api": option Algorithm: unknown algorithm "fastest" (want round_robin, weighted_round_robin, least_conn, consistent_hash, client_ip_hash)
}
