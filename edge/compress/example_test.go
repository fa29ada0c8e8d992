package compress_test

import (
	"fmt"

	"edged/edge/compress"
)

func ExampleNegotiate() {
	enc, ok := compress.Negotiate([]string{"gzip, deflate, br"}, compress.Brotli, compress.Gzip)
	fmt.Println(enc, ok)
	enc, ok = compress.Negotiate([]string{"br;q=0, gzip;q=0.8"}, compress.Brotli, compress.Gzip)
	fmt.Println(enc, ok)
	enc, ok = compress.Negotiate([]string{"identity;q=0"}, compress.Brotli, compress.Gzip)
	fmt.Println(enc, ok) // the caller may answer 406, or send identity anyway.
	// Output:
	// br true
	// gzip true
	// identity false
}

func ExampleEncoder_Encode() {
	e, err := compress.NewEncoder(compress.Options{})
	if err != nil {
		panic(err)
	}
	body := make([]byte, 4096) // a compressible body above MinSize
	for i := range body {
		body[i] = "abcdefgh"[i%8]
	}
	if !compress.Compressible("text/plain; charset=utf-8") || !e.Worth(int64(len(body))) {
		return
	}
	br, err := e.Encode(compress.Brotli, body)
	fmt.Println(err, len(br) < len(body)/10)
	fmt.Println(compress.VariantETag(`"v1"`, compress.Brotli))
	fmt.Println(compress.StripVariantETag(`W/"v1-br"`))
	// Output:
	// <nil> true
	// W/"v1-br"
	// W/"v1" br
}
