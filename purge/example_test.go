package purge_test

import (
	"fmt"
	"strings"

	"edged/purge"
)

func ExampleParseRequest() {
	r, err := purge.ParseRequest(strings.NewReader(`{"tags":["product-42"],"prefixes":["https://www.example.com/img/"],"soft":true}`))
	fmt.Println(r.Kinds(), r.Soft, err)

	_, err = purge.ParseRequest(strings.NewReader(`{"urls":["/relative"]}`))
	fmt.Println(err)
	// Output:
	// [prefix tag] true <nil>
	// invalid purge request: urls[0] "/relative": not an absolute http or https URL
}
