package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// LoadOrCreate returns the key named name from the keys bucket,
// generating and storing a random one of size bytes the first time. A
// stored value of another size is not a key LoadOrCreate made (someone
// wrote the bucket): an error, never a key anyone could know.
func LoadOrCreate(ctx context.Context, kv jetstream.KeyValue, name string, size int) ([]byte, error) {
	for range 3 {
		e, err := kv.Get(ctx, name)
		if err == nil {
			if len(e.Value()) != size {
				return nil, fmt.Errorf("key %s: the stored value has %d bytes, not the %d iseed generates: it was not written by iseed; find out who can write the keys bucket, then delete the key (a new one is generated) or give the key in a file", name, len(e.Value()), size)
			}
			return e.Value(), nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("key %s: %w", name, err)
		}
		key := make([]byte, size)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("key %s: %w", name, err)
		}
		if _, err = kv.Create(ctx, name, key); err == nil {
			return key, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("key %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("key %s: created and deleted concurrently", name)
}

// Parse reads a key file's content: 64 hex digits, standard base64 of 32
// bytes, or exactly 32 raw bytes. Surrounding white space is ignored for the
// text forms.
func Parse(b []byte) ([]byte, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 64 {
		if k, err := hex.DecodeString(string(t)); err == nil {
			return k, nil
		}
	}
	if k, err := base64.StdEncoding.DecodeString(string(t)); err == nil && len(k) == 32 {
		return k, nil
	}
	if len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("a key file must hold 32 bytes: 64 hex digits, base64, or raw (e.g. `openssl rand -hex 32 > key`)")
}
