package seal_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/iseed-dev/iseed/seal"
)

// pattern is a reader of n deterministic bytes, never held in memory.
type pattern struct {
	n, off int64
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = byte((p.off+int64(i))*7 + 3)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func patternBytes(n int) []byte {
	b, _ := io.ReadAll(&pattern{n: int64(n)})
	return b
}

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newKeyring(t testing.TB, cfg seal.Config) *seal.Keyring {
	t.Helper()
	k, err := seal.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealBytes seals plain for tenant and returns the object and its metadata.
func sealBytes(t testing.TB, k *seal.Keyring, tenant string, plain []byte) ([]byte, map[string]string) {
	t.Helper()
	r, meta, err := k.Seal(bytes.NewReader(plain), tenant)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return obj, meta
}

// openBytes opens obj and reads it whole.
func openBytes(k *seal.Keyring, obj []byte, meta map[string]string) ([]byte, error) {
	r, err := k.Open(bytes.NewReader(obj), meta)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	id := newIdentity(t)
	k := newKeyring(t, seal.Config{Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}})
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 128<<10 + 5} {
		plain := patternBytes(size)
		obj, meta := sealBytes(t, k, "acme", plain)
		if got, want := meta[seal.MetaEncryption], seal.SchemeAge; got != want {
			t.Errorf("size %d: metadata %s = %q, want %q", size, seal.MetaEncryption, got, want)
		}
		if got, want := meta[seal.MetaRecipients], seal.RecipientID(id.Recipient().String()); got != want {
			t.Errorf("size %d: metadata %s = %q, want %q", size, seal.MetaRecipients, got, want)
		}
		if size >= 16 && bytes.Contains(obj, plain[:min(size, 64)]) {
			t.Errorf("size %d: the sealed object contains the plaintext", size)
		}
		got, err := openBytes(k, obj, meta)
		if err != nil {
			t.Fatalf("size %d: open: %v", size, err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("size %d: got %d bytes back, want the %d sealed", size, len(got), len(plain))
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestRoundTripStreams seals and opens 10 MiB through one chain of readers
// and checks, at every read, that the source was read at most a few chunks
// ahead of the plaintext that came out: the document is never held whole.
func TestRoundTripStreams(t *testing.T) {
	const size = 10 << 20
	id := newIdentity(t)
	k := newKeyring(t, seal.Config{Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}})
	src := &countingReader{r: &pattern{n: size}}
	sealed, meta, err := k.Seal(src, "acme")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := k.Open(sealed, meta)
	if err != nil {
		t.Fatal(err)
	}
	got, want := sha256.New(), sha256.New()
	io.Copy(want, &pattern{n: size})
	var out, maxAhead int64
	buf := make([]byte, 32<<10)
	for {
		n, err := plain.Read(buf)
		out += int64(n)
		got.Write(buf[:n])
		maxAhead = max(maxAhead, src.n-out)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", out, err)
		}
	}
	if out != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("got %d bytes with sha256 %x, want %d with %x", out, got.Sum(nil), size, want.Sum(nil))
	}
	if limit := int64(4 * 64 << 10); maxAhead > limit {
		t.Errorf("the source was read up to %d bytes ahead of the plaintext, want at most %d", maxAhead, limit)
	}
}

func TestWrongIdentity(t *testing.T) {
	alice, mallory := newIdentity(t), newIdentity(t)
	writer := newKeyring(t, seal.Config{Recipients: []age.Recipient{alice.Recipient()}})
	obj, meta := sealBytes(t, writer, "acme", []byte("ISEE 2025"))
	tests := []struct {
		name   string
		ids    []age.Identity
		inText []string
	}{
		{"another identity", []age.Identity{mallory}, []string{
			seal.RecipientID(alice.Recipient().String()), seal.RecipientID(mallory.Recipient().String())}},
		{"no identity", nil, []string{seal.RecipientID(alice.Recipient().String()), "no identity file"}},
	}
	for _, tt := range tests {
		k := newKeyring(t, seal.Config{Identities: tt.ids})
		_, err := openBytes(k, obj, meta)
		if !errors.Is(err, seal.ErrNoKey) {
			t.Errorf("%s: got %v, want ErrNoKey", tt.name, err)
			continue
		}
		for _, s := range tt.inText {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not name %q", tt.name, err, s)
			}
		}
	}
}

func TestSealWithoutRecipients(t *testing.T) {
	k := newKeyring(t, seal.Config{Identities: []age.Identity{newIdentity(t)}})
	if k.CanSeal("acme") {
		t.Errorf("CanSeal = true with no recipients, want false")
	}
	if _, _, err := k.Seal(strings.NewReader("x"), "acme"); !errors.Is(err, seal.ErrNoRecipients) {
		t.Errorf("Seal: got %v, want ErrNoRecipients", err)
	}
}

func TestOpenClearAndUnknown(t *testing.T) {
	k := newKeyring(t, seal.Config{})
	got, err := openBytes(k, []byte("in clear"), map[string]string{"tenant": "acme"})
	if err != nil || string(got) != "in clear" {
		t.Errorf("clear object: got %q, %v, want %q", got, err, "in clear")
	}
	_, err = openBytes(k, []byte("x"), map[string]string{seal.MetaEncryption: "rot13"})
	if !errors.Is(err, seal.ErrUnknownScheme) {
		t.Errorf("unknown scheme: got %v, want ErrUnknownScheme", err)
	}
}

// payloadStart returns the offset of the first payload chunk of an age
// file: after the header's "--- mac" line and the 16-byte nonce.
func payloadStart(t *testing.T, obj []byte) int {
	t.Helper()
	i := bytes.Index(obj, []byte("\n--- "))
	if i < 0 {
		t.Fatal("no header end in the age file")
	}
	return i + 1 + bytes.IndexByte(obj[i+1:], '\n') + 1 + 16
}

func TestTamperingAndTruncation(t *testing.T) {
	id := newIdentity(t)
	k := newKeyring(t, seal.Config{Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}})
	obj, meta := sealBytes(t, k, "acme", patternBytes(150<<10)) // three chunks
	p := payloadStart(t, obj)
	chunk := 64<<10 + 16
	macLine := bytes.Index(obj, []byte("\n--- ")) + 6
	stanza := bytes.Index(obj, []byte("-> X25519 "))
	stanzaBody := stanza + bytes.IndexByte(obj[stanza:], '\n') + 1
	flip := func(at int) func([]byte) []byte {
		return func(b []byte) []byte { b[at] ^= 0x01; return b }
	}
	// base64 changes a header character into another valid one.
	base64 := func(at int) func([]byte) []byte {
		return func(b []byte) []byte {
			b[at] = map[bool]byte{true: 'B', false: 'A'}[b[at] == 'A']
			return b
		}
	}
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:n] } }
	tests := []struct {
		name   string
		change func([]byte) []byte
		want   error
	}{
		{"version line", flip(3), seal.ErrCorrupt},
		{"recipient stanza", base64(stanzaBody + 3), seal.ErrNoKey}, // the wrapped key no longer unwraps
		{"header MAC", base64(macLine + 2), seal.ErrCorrupt},
		{"nonce", flip(p - 3), seal.ErrCorrupt},
		{"first chunk", flip(p + 10), seal.ErrCorrupt},
		{"middle chunk tag", flip(p + 2*chunk - 1), seal.ErrCorrupt},
		{"last chunk", flip(len(obj) - 20), seal.ErrCorrupt},
		{"last byte cut", cut(len(obj) - 1), seal.ErrCorrupt},
		{"last chunk dropped", cut(p + 2*chunk), seal.ErrCorrupt},
		{"only the header", cut(p), seal.ErrCorrupt},
		{"half a header", cut(p / 2), seal.ErrCorrupt},
		{"trailing data", func(b []byte) []byte { return append(b, 0) }, seal.ErrCorrupt},
		{"chunks swapped", func(b []byte) []byte {
			out := append([]byte(nil), b[:p]...)
			out = append(out, b[p+chunk:p+2*chunk]...)
			out = append(out, b[p:p+chunk]...)
			return append(out, b[p+2*chunk:]...)
		}, seal.ErrCorrupt},
	}
	for _, tt := range tests {
		changed := tt.change(append([]byte(nil), obj...))
		if _, err := openBytes(k, changed, meta); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

// failingReader returns its bytes, then err.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestReadErrorIsNotCorruption checks that a failure to read the object (a
// network error) is reported as itself, not as tampering.
func TestReadErrorIsNotCorruption(t *testing.T) {
	id := newIdentity(t)
	k := newKeyring(t, seal.Config{Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}})
	obj, meta := sealBytes(t, k, "acme", patternBytes(100<<10))
	lost := errors.New("connection lost")
	for _, at := range []int{10, payloadStart(t, obj) + 100} {
		r, err := k.Open(&failingReader{r: bytes.NewReader(obj[:at]), err: lost}, meta)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, lost) || errors.Is(err, seal.ErrCorrupt) {
			t.Errorf("source failing at byte %d: got %v, want the source's error and not ErrCorrupt", at, err)
		}
	}
}

func TestTenantRecipients(t *testing.T) {
	operator, a, b := newIdentity(t), newIdentity(t), newIdentity(t)
	writer := newKeyring(t, seal.Config{
		Recipients: []age.Recipient{operator.Recipient()},
		Tenants: map[string][]age.Recipient{
			"tenant-a": {a.Recipient()},
			"tenant-b": {b.Recipient(), operator.Recipient()},
		},
	})
	tests := []struct {
		tenant     string
		recipients string
		opens      map[string]bool
	}{
		{"tenant-a", seal.RecipientID(a.Recipient().String()), map[string]bool{"operator": false, "a": true, "b": false}},
		{"tenant-b", seal.RecipientID(b.Recipient().String()) + "," + seal.RecipientID(operator.Recipient().String()),
			map[string]bool{"operator": true, "a": false, "b": true}},
		{"tenant-c", seal.RecipientID(operator.Recipient().String()), map[string]bool{"operator": true, "a": false, "b": false}},
	}
	readers := map[string]*age.X25519Identity{"operator": operator, "a": a, "b": b}
	for _, tt := range tests {
		obj, meta := sealBytes(t, writer, tt.tenant, []byte("certificate of "+tt.tenant))
		if got := meta[seal.MetaRecipients]; got != tt.recipients {
			t.Errorf("%s: recipients %q, want %q", tt.tenant, got, tt.recipients)
		}
		for who, want := range tt.opens {
			k := newKeyring(t, seal.Config{Identities: []age.Identity{readers[who]}})
			got, err := openBytes(k, obj, meta)
			if opened := err == nil && string(got) == "certificate of "+tt.tenant; opened != want {
				t.Errorf("%s's document opened by %s's identity: %v (%v), want %v", tt.tenant, who, opened, err, want)
			}
			if !want && !errors.Is(err, seal.ErrNoKey) {
				t.Errorf("%s's document opened by %s's identity: got %v, want ErrNoKey", tt.tenant, who, err)
			}
		}
	}
}

func TestRotation(t *testing.T) {
	old, next := newIdentity(t), newIdentity(t)
	before := newKeyring(t, seal.Config{Recipients: []age.Recipient{old.Recipient()}, Identities: []age.Identity{old}})
	oldObj, oldMeta := sealBytes(t, before, "acme", []byte("sealed before"))
	after := newKeyring(t, seal.Config{Recipients: []age.Recipient{next.Recipient()}, Identities: []age.Identity{next, old}})
	newObj, newMeta := sealBytes(t, after, "acme", []byte("sealed after"))
	if got, want := newMeta[seal.MetaRecipients], seal.RecipientID(next.Recipient().String()); got != want {
		t.Errorf("new object's recipients %q, want %q (the new key only)", got, want)
	}
	for name, c := range map[string]struct {
		obj  []byte
		meta map[string]string
		want string
	}{"old": {oldObj, oldMeta, "sealed before"}, "new": {newObj, newMeta, "sealed after"}} {
		if got, err := openBytes(after, c.obj, c.meta); err != nil || string(got) != c.want {
			t.Errorf("%s object after rotation: got %q, %v, want %q", name, got, err, c.want)
		}
	}
	retired := newKeyring(t, seal.Config{Identities: []age.Identity{next}})
	if _, err := openBytes(retired, oldObj, oldMeta); !errors.Is(err, seal.ErrNoKey) {
		t.Errorf("old object once the old identity is dropped: got %v, want ErrNoKey", err)
	}
}

func TestHybridRecipients(t *testing.T) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	k := newKeyring(t, seal.Config{Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}})
	obj, meta := sealBytes(t, k, "acme", []byte("post-quantum"))
	if got, err := openBytes(k, obj, meta); err != nil || string(got) != "post-quantum" {
		t.Errorf("hybrid round trip: got %q, %v, want %q", got, err, "post-quantum")
	}
	mixed := []age.Recipient{id.Recipient(), newIdentity(t).Recipient()}
	for name, cfg := range map[string]seal.Config{
		"default": {Recipients: mixed},
		"tenant":  {Tenants: map[string][]age.Recipient{"acme": mixed}},
	} {
		if _, err := seal.New(cfg); err == nil {
			t.Errorf("%s recipients hybrid and X25519 together: got no error, want age's refusal at New", name)
		}
	}
}

func BenchmarkSealOpen1MiB(b *testing.B) {
	id := newIdentity(b)
	k := newKeyring(b, seal.Config{Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}})
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		sealed, meta, err := k.Seal(&pattern{n: 1 << 20}, "acme")
		if err != nil {
			b.Fatal(err)
		}
		plain, err := k.Open(sealed, meta)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, plain); n != 1<<20 || err != nil {
			b.Fatal(fmt.Sprint(n, err))
		}
	}
}
