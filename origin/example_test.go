package origin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

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
