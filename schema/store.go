package schema

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBucket is the KV bucket that holds cached schemas.
const DefaultBucket = "iseed_schemas"

// bucketMaxAge bounds how long an entry survives in the bucket. It is far
// longer than the TTL on purpose: an expired entry is still served while
// the upstream is down.
const bucketMaxAge = 30 * 24 * time.Hour

// KV keys: "catalog" for GET /visure, "visura.<hash>" for GET /visure/{hash}
// when the hash is made of [A-Za-z0-9_-], "visura.x.<hex of hash>" otherwise
// (the hash is opaque; a plain hash never contains the '.').
const (
	catalogKey    = "catalog"
	servicePrefix = "visura."
	hexPrefix     = "x."
)

// record is what the bucket holds for one answer. Other replicas write it
// too: its format is versioned.
type record struct {
	V         int             `json:"v"` // 1
	FetchedAt time.Time       `json:"fetched_at"`
	Data      json.RawMessage `json:"data"` // the answer's data, without the envelope

	stored time.Time // when the server stored the entry, as it stamped it
}

const recordVersion = 1

// fetched returns when the answer was fetched: FetchedAt, as the writer's
// clock read it, but never after the server stored the entry. A replica
// whose clock runs days ahead would otherwise make its entries fresh, for
// every other replica, for those days beyond the TTL.
func (r *record) fetched() time.Time {
	if !r.stored.IsZero() && r.stored.Before(r.FetchedAt) {
		return r.stored
	}
	return r.FetchedAt
}

// serviceKey returns the KV key of a service.
func serviceKey(hash string) string {
	if validBucket(hash) { // the same alphabet: [A-Za-z0-9_-]+
		return servicePrefix + hash
	}
	return servicePrefix + hexPrefix + hex.EncodeToString([]byte(hash))
}

// keyText names a KV key in an error or a log line: as it is for the
// catalog and a hash, else by its length only. A service is looked up
// under a key made of whatever a submission named it, when the catalog is
// unavailable, and that may be anything a tenant wrote (serviceText).
func keyText(key string) string {
	rest, ok := strings.CutPrefix(key, servicePrefix)
	if !ok || maybeHash(rest) {
		return key
	}
	return fmt.Sprintf("%s(a key of %d bytes)", servicePrefix, len(rest))
}

// EnsureBucket creates the schema bucket, or updates its configuration if
// it exists. An empty name means DefaultBucket; replicas below 1 mean 1.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, name string, replicas int, storage jetstream.StorageType) (jetstream.KeyValue, error) {
	if name == "" {
		name = DefaultBucket
	}
	cfg := jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "iseed: Visengine service schemas and catalog (see docs/schema.md)",
		History:     1,
		TTL:         bucketMaxAge,
		Replicas:    max(replicas, 1),
		Storage:     storage,
	}
	// Create first, update only a bucket that exists with another
	// configuration: replicas starting together on a fresh cluster then
	// never cross a create with an update, which nats-server 2.15 can leave
	// unanswered (both callers time out; layout.EnsureKeyValue).
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.UpdateKeyValue(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("schema: bucket %s: %w", name, err)
	}
	return kv, nil
}

// kvGet reads a record; (nil, nil) when the key is absent.
func kvGet(ctx context.Context, kv jetstream.KeyValue, key string) (*record, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("schema: kv get %s: %w", keyText(key), err)
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("schema: kv %s: %w", keyText(key), err)
	}
	if r.V != recordVersion || len(r.Data) == 0 {
		return nil, fmt.Errorf("schema: kv %s: unusable record (version %d, %d bytes of data)", keyText(key), r.V, len(r.Data))
	}
	r.stored = e.Created()
	return &r, nil
}

// kvPut writes a record.
func kvPut(ctx context.Context, kv jetstream.KeyValue, key string, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("schema: kv %s: %w", keyText(key), err)
	}
	if _, err := kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("schema: kv put %s: %w", keyText(key), err)
	}
	return nil
}
