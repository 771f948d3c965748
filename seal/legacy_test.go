package seal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/iseed-dev/iseed/seal"
)

// The legacy fixtures in testdata were written by the sealer iseed used
// before age (testdata/gen_legacy.go); legacyKeyID is their key's id.
const legacyKeyID = "0d632987"

func legacyKeyring(t *testing.T) *seal.Keyring {
	t.Helper()
	k, err := seal.Load(seal.Files{LegacyKey: filepath.Join("testdata", "legacy.key")})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func legacyFixture(t *testing.T, size int) ([]byte, map[string]string) {
	t.Helper()
	obj, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("legacy-%d.isd", size)))
	if err != nil {
		t.Fatal(err)
	}
	return obj, map[string]string{seal.MetaEncryption: seal.SchemeLegacy, seal.MetaKeyID: legacyKeyID}
}

func TestLegacyFixturesOpen(t *testing.T) {
	k := legacyKeyring(t)
	for _, size := range []int{0, 1, 65536, 65537} {
		obj, meta := legacyFixture(t, size)
		got, err := openBytes(k, obj, meta)
		if err != nil {
			t.Errorf("legacy object of %d bytes: %v", size, err)
			continue
		}
		if want := patternBytes(size); !bytes.Equal(got, want) {
			t.Errorf("legacy object of %d bytes: got %d bytes that differ from the %d sealed", size, len(got), len(want))
		}
	}
}

func TestLegacyWrongKey(t *testing.T) {
	obj, meta := legacyFixture(t, 1)
	other := bytes.Repeat([]byte{7}, 32)
	k, err := seal.New(seal.Config{LegacyKeys: [][]byte{other}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openBytes(k, obj, meta); !errors.Is(err, seal.ErrNoKey) || !bytes.Contains([]byte(err.Error()), []byte(legacyKeyID)) {
		t.Errorf("legacy object with another key: got %v, want ErrNoKey naming key %s", err, legacyKeyID)
	}
	// A key whose id is forged into the metadata still fails authentication.
	meta[seal.MetaKeyID] = seal.LegacyKeyID(other)
	if _, err := openBytes(k, obj, meta); !errors.Is(err, seal.ErrCorrupt) {
		t.Errorf("legacy object with a forged key id: got %v, want ErrCorrupt", err)
	}
}

func TestLegacyTamperingAndTruncation(t *testing.T) {
	k := legacyKeyring(t)
	obj, meta := legacyFixture(t, 65537) // two records: 64 KiB, then 1 byte (final)
	const header, first = 12, 4 + 65536 + 16
	tests := []struct {
		name   string
		change func([]byte) []byte
	}{
		{"magic", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"prefix", func(b []byte) []byte { b[5] ^= 1; return b }},
		{"first record", func(b []byte) []byte { b[header+100] ^= 1; return b }},
		{"final flag cleared", func(b []byte) []byte { b[header+first] &^= 0x80; return b }},
		{"final flag set on the first record", func(b []byte) []byte { b[header] |= 0x80; return b }},
		{"last record dropped", func(b []byte) []byte { return b[:header+first] }},
		{"last byte cut", func(b []byte) []byte { return b[:len(b)-1] }},
		{"header only", func(b []byte) []byte { return b[:header] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"trailing data", func(b []byte) []byte { return append(b, 0) }},
	}
	for _, tt := range tests {
		changed := tt.change(append([]byte(nil), obj...))
		if _, err := openBytes(k, changed, meta); !errors.Is(err, seal.ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", tt.name, err)
		}
	}
	lost := errors.New("connection lost")
	r, err := k.Open(&failingReader{r: bytes.NewReader(obj[:header+100]), err: lost}, meta)
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if !errors.Is(err, lost) || errors.Is(err, seal.ErrCorrupt) {
		t.Errorf("source failing mid-record: got %v, want the source's error and not ErrCorrupt", err)
	}
}

func TestParseLegacyKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xAB}, 32)
	raw := append([]byte(nil), key...)
	raw[0] = ' ' // raw keys are taken as they are, white space included
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"hex", []byte(hex.EncodeToString(key)), key},
		{"hex with newline", []byte(hex.EncodeToString(key) + "\n"), key},
		{"base64", []byte(base64.StdEncoding.EncodeToString(key) + "\n"), key},
		{"raw", raw, raw},
		{"short hex", []byte(hex.EncodeToString(key[:31])), nil},
		{"base64 of 16 bytes", []byte(base64.StdEncoding.EncodeToString(key[:16])), nil},
		{"33 raw bytes", append(key, 1), nil},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		got, err := seal.ParseLegacyKey(tt.in)
		if tt.want == nil {
			if err == nil {
				t.Errorf("%s: got key %x, want an error", tt.name, got)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: got %x, %v, want %x", tt.name, got, err, tt.want)
		}
	}
}
