package keys

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestParse(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"hex", strings.Repeat("ab", 32) + "\n", true},
		{"base64", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n", true},
		{"raw", string(raw), true},
		{"short hex", strings.Repeat("ab", 10), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !bytes.Equal(k, raw) {
				t.Errorf("got %x, want %x", k, raw)
			}
		})
	}
}

// TestLoadOrCreateRefusesAForeignValue: a key generated once is read back
// as is; a stored value of another size (a server's answer, an empty
// value) is an error, never a key whoever wrote it would know.
func TestLoadOrCreateRefusesAForeignValue(t *testing.T) {
	s := natstest.Run(t)
	_, js := natstest.Connect(t, s.ClientURL())
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "keys"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadOrCreate(ctx, kv, "callback-hmac", 32)
	if err != nil || len(k) != 32 {
		t.Fatalf("first load: %d bytes, %v", len(k), err)
	}
	if again, err := LoadOrCreate(ctx, kv, "callback-hmac", 32); err != nil || !bytes.Equal(again, k) {
		t.Fatalf("second load: %x, %v; want the first key", again, err)
	}
	for _, v := range []string{"", `{"stream":"ISEED_SUBMISSIONS","seq":1}`} {
		if _, err := kv.Put(ctx, "callback-hmac", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := LoadOrCreate(ctx, kv, "callback-hmac", 32); err == nil {
			t.Errorf("stored %q: got key %q; want an error", v, got)
		}
	}
}
