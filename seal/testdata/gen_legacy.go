//go:build ignore

// gen_legacy writes the legacy fixtures with the sealer iseed used before
// age (consumer.Sealer, scheme iseed-aead-v1), so that the tests prove the
// moved decoder reads what the old code wrote. Run from seal/testdata, on a
// commit that still has consumer/seal.go:
//
//	go run gen_legacy.go
package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/iseed-dev/iseed/consumer"
)

func main() {
	b, err := os.ReadFile("legacy.key")
	if err != nil {
		log.Fatal(err)
	}
	key, err := consumer.ParseKey(b)
	if err != nil {
		log.Fatal(err)
	}
	s, err := consumer.NewSealer(key)
	if err != nil {
		log.Fatal(err)
	}
	for _, size := range []int{0, 1, 65536, 65537} {
		plain := make([]byte, size)
		for i := range plain {
			plain[i] = byte(i*7 + 3) // the pattern legacy_test.go expects
		}
		r, err := s.Seal(bytes.NewReader(plain))
		if err != nil {
			log.Fatal(err)
		}
		sealed, err := io.ReadAll(r)
		if err != nil {
			log.Fatal(err)
		}
		name := fmt.Sprintf("legacy-%d.isd", size)
		if err := os.WriteFile(name, sealed, 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s key_id=%s\n", name, s.KeyID())
	}
}
