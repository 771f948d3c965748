package bucket

import (
	"context"
	"errors"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// TestChanged: the bucket a watch began on is unchanged; deleted, it is
// gone (which MadeAnew does not take for a new one); made again under its
// name, it is a new one.
func TestChanged(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	cfg := jetstream.KeyValueConfig{Bucket: "b"}
	kv, err := srv.JS.CreateKeyValue(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	created, err := Created(ctx, kv)
	if err != nil {
		t.Fatal(err)
	}
	if err := Changed(ctx, kv, created); err != nil {
		t.Fatalf("Changed of the same bucket: %v; want nil", err)
	}
	if err := srv.JS.DeleteKeyValue(ctx, cfg.Bucket); err != nil {
		t.Fatal(err)
	}
	if err := Changed(ctx, kv, created); !errors.Is(err, ErrDeleted) {
		t.Fatalf("Changed of a deleted bucket: %v; want %v", err, ErrDeleted)
	}
	if MadeAnew(ctx, kv, created) {
		t.Fatal("MadeAnew of a deleted bucket: true; want false (the watch goes on)")
	}
	if _, err := srv.JS.CreateKeyValue(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := Changed(ctx, kv, created); !errors.Is(err, ErrMadeAnew) {
		t.Fatalf("Changed of a bucket made anew: %v; want %v", err, ErrMadeAnew)
	}
	if !MadeAnew(ctx, kv, created) {
		t.Fatal("MadeAnew of a bucket made anew: false; want true")
	}
}
