package bucket

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// TestChanged: the bucket a watch began on is unchanged; deleted, it is
// gone (which a Guard's Check does not take for a new one); made again
// under its name, it is a new one.
func TestChanged(t *testing.T) {
	srv := natstest.Run(t)
	srv.KeepStreamsDir(t) // the bucket is the account's only stream, made anew
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
	g, err := Begin(ctx, kv, KeepUp)
	if err != nil {
		t.Fatal(err)
	}
	if err := Changed(ctx, kv, created); err != nil {
		t.Fatalf("Changed of the same bucket: %v; want nil", err)
	}
	if err := g.Check(ctx); err != nil {
		t.Fatalf("Check of the same bucket: %v; want nil", err)
	}
	if err := srv.JS.DeleteKeyValue(ctx, cfg.Bucket); err != nil {
		t.Fatal(err)
	}
	if err := Changed(ctx, kv, created); !errors.Is(err, ErrDeleted) {
		t.Fatalf("Changed of a deleted bucket: %v; want %v", err, ErrDeleted)
	}
	if err := g.Check(ctx); err != nil {
		t.Fatalf("Check of a deleted bucket: %v; want nil (the watch goes on)", err)
	}
	if _, err := srv.JS.CreateKeyValue(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := Changed(ctx, kv, created); !errors.Is(err, ErrMadeAnew) {
		t.Fatalf("Changed of a bucket made anew: %v; want %v", err, ErrMadeAnew)
	}
	if err := g.Check(ctx); !errors.Is(err, ErrMadeAnew) {
		t.Fatalf("Check of a bucket made anew: %v; want %v", err, ErrMadeAnew)
	}
}

// TestKeys: every key of the bucket is listed once, deleted and purged
// keys are not, an empty bucket lists nothing, and an error of fn ends the
// listing with it.
func TestKeys(t *testing.T) {
	srv := natstest.Run(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b", History: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := Keys(ctx, kv, func(k string) error { return fmt.Errorf("listed %s in an empty bucket", k) }); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := range 300 {
		k := fmt.Sprintf("k%03d", i)
		for range 2 {
			if _, err := kv.PutString(ctx, k, "v"); err != nil {
				t.Fatal(err)
			}
		}
		switch i % 10 {
		case 3:
			err = kv.Delete(ctx, k)
		case 7:
			err = kv.Purge(ctx, k)
		default:
			want[k] = true
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	if err := Keys(ctx, kv, func(k string) error { got[k]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("key %s listed %d times; want once", k, got[k])
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("key %s listed; it was deleted", k)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := Keys(ctx, kv, func(string) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("fn's error: Keys returned %v after %d keys; want %v after 1", err, n, stop)
	}
}

// TestKeysOfABucketChangedWhileListed: a bucket deleted, or deleted and
// made again, while its keys are listed ends the listing with ErrDeleted
// or ErrMadeAnew, never with a listing taken for the whole bucket, nor
// never (jetstream's ListKeys ends early with no error, or waits for a
// marker that may never come).
func TestKeysOfABucketChangedWhileListed(t *testing.T) {
	for _, tc := range []struct {
		name string
		anew bool
		want error
	}{
		{name: "deleted", want: ErrDeleted},
		{name: "made anew", anew: true, want: ErrMadeAnew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Run(t)
			srv.KeepStreamsDir(t) // the bucket is the account's only stream, made anew
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cfg := jetstream.KeyValueConfig{Bucket: "b"}
			kv, err := srv.JS.CreateKeyValue(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 500 {
				if _, err := kv.PutString(ctx, fmt.Sprintf("k%03d", i), "v"); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			err = Keys(ctx, kv, func(string) error {
				if n++; n > 1 {
					return nil
				}
				if err := srv.JS.DeleteKeyValue(ctx, cfg.Bucket); err != nil {
					return err
				}
				if !tc.anew {
					return nil
				}
				nkv, err := srv.JS.CreateKeyValue(ctx, cfg)
				if err != nil {
					return err
				}
				_, err = nkv.PutString(ctx, "new", "v")
				return err
			})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Keys after %d keys: %v; want %v", n, err, tc.want)
			}
		})
	}
}
