package budget

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// UsageTTL is how long a usage key outlives its last write. A month's key
// is written during the month and read during the next (Reserve looks
// there for a reservation made before midnight of the month's last day),
// so anything over 62 days is safe; 100 days keep last month's usage for
// reports.
const UsageTTL = 100 * 24 * time.Hour

// CapsHistory is how many revisions of each scope's caps the caps bucket
// keeps: a short trail of who raised what (kv history).
const CapsHistory = 10

// CapsBucketConfig is the KV bucket of caps, one key per scope ("account",
// "tenant.<name>"). Caps never expire.
func CapsBucketConfig(name string, replicas int, storage jetstream.StorageType) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "iseed: spending caps per tenant and for the account",
		History:     CapsHistory,
		Storage:     storage,
		Replicas:    replicas,
	}
}

// UsageBucketConfig is the KV bucket of usage, one key per scope and month
// ("account.2026-03", "tenant.<name>.2026-03"), expiring UsageTTL after
// its last write.
func UsageBucketConfig(name string, replicas int, storage jetstream.StorageType) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "iseed: money counted against the caps, per scope and month",
		History:     1,
		TTL:         UsageTTL,
		Storage:     storage,
		Replicas:    replicas,
	}
}

// EnsureBuckets creates or updates, idempotently, the caps and usage
// buckets and returns them.
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, capsName, usageName string, replicas int, storage jetstream.StorageType) (caps, usage jetstream.KeyValue, err error) {
	if caps, err = ensureKV(ctx, js, CapsBucketConfig(capsName, replicas, storage)); err != nil {
		return nil, nil, fmt.Errorf("budget: kv bucket %s: %w", capsName, err)
	}
	if usage, err = ensureKV(ctx, js, UsageBucketConfig(usageName, replicas, storage)); err != nil {
		return nil, nil, fmt.Errorf("budget: kv bucket %s: %w", usageName, err)
	}
	return caps, usage, nil
}

// ensureKV creates the bucket, or updates it when it exists with another
// configuration. Create first: replicas starting together then never cross
// a create with an update of a new bucket, which nats-server 2.15 can leave
// unanswered (see layout.EnsureKeyValue).
func ensureKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.UpdateKeyValue(ctx, cfg)
	}
	return kv, err
}
