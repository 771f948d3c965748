package seal_test

import (
	"context"
	"crypto/sha256"
	"io"
	"testing"

	"filippo.io/age"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/seal"
	"github.com/nats-io/nats.go/jetstream"
)

// TestObjectStoreRoundTrip stores a sealed document in a JetStream object
// store as iseed does, streaming, with Seal's metadata, and opens it from
// what the store gives back.
func TestObjectStoreRoundTrip(t *testing.T) {
	s := natstest.Run(t)
	ctx := context.Background()
	store, err := s.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "DOCUMENTS"})
	if err != nil {
		t.Fatal(err)
	}
	id := newIdentity(t)
	k := newKeyring(t, seal.Config{Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}})
	const size = 3<<20 + 17
	sealed, meta, err := k.Seal(&pattern{n: size}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	meta["tenant"] = "acme"
	if _, err := store.Put(ctx, jetstream.ObjectMeta{Name: "acme/s1/doc.pdf", Metadata: meta}, sealed); err != nil {
		t.Fatal(err)
	}
	obj, err := store.Get(ctx, "acme/s1/doc.pdf")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	info, err := obj.Info()
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Metadata[seal.MetaEncryption]; got != seal.SchemeAge {
		t.Fatalf("stored metadata %s = %q, want %q", seal.MetaEncryption, got, seal.SchemeAge)
	}
	plain, err := k.Open(obj, info.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	got, want := sha256.New(), sha256.New()
	n, err := io.Copy(got, plain)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(want, &pattern{n: size})
	if n != size || string(got.Sum(nil)) != string(want.Sum(nil)) {
		t.Errorf("got %d bytes back with sha256 %x, want %d with %x", n, got.Sum(nil), size, want.Sum(nil))
	}
}
