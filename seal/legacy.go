package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/iseed-dev/iseed/keys"
)

// The legacy format, SchemeLegacy ("iseed-aead-v1"), read only. It is the
// decoder of consumer/seal.go, moved here unchanged in behaviour so that
// objects stored before age stay readable:
//
//	header  = "ISD1" || prefix (8 random bytes, fresh per object)
//	record  = length (uint32 big endian; top bit set on the last record) || ciphertext+tag
//	nonce   = prefix || chunk counter (uint32 big endian, from 0)
//	AAD     = header || counter || final flag (1 byte)
//
// Plaintext chunks are 64 KiB; an empty document is one empty, flagged
// record. The key id in the object's metadata (MetaKeyID) names the key.
const (
	legacyMagic     = "ISD1"
	legacyPrefixLen = 8
	legacyHeaderLen = len(legacyMagic) + legacyPrefixLen
	legacyChunk     = 64 << 10
	legacyFinalBit  = 1 << 31
)

// ParseLegacyKey reads the content of a legacy key file (the former
// ISEED_DOCUMENT_KEY_FILE): 64 hex digits, standard base64 of 32 bytes, or
// exactly 32 raw bytes. Surrounding white space is ignored for the text
// forms.
// It is the format of every key file of iseed's (keys.Parse).
func ParseLegacyKey(b []byte) ([]byte, error) {
	k, err := keys.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("legacy document key: %w", err)
	}
	return k, nil
}

// LegacyKeyID names a legacy key without revealing it: the first 8 hex
// digits of its SHA-256, as stored in MetaKeyID.
func LegacyKeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// legacyKey opens legacy objects sealed with one key.
type legacyKey struct {
	aead cipher.AEAD
	id   string
}

func newLegacyKey(key []byte) (*legacyKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("seal: legacy key: got %d bytes, want 32 (AES-256)", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: legacy key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: legacy key: %w", err)
	}
	return &legacyKey{aead: aead, id: LegacyKeyID(key)}, nil
}

func (k *Keyring) openLegacy(src io.Reader, keyID string) (io.Reader, error) {
	lk, ok := k.legacy[keyID]
	if !ok {
		return nil, fmt.Errorf("seal: %w: the document is sealed (%s) with key %s: give its legacy key file", ErrNoKey, SchemeLegacy, keyID)
	}
	return &legacyReader{k: lk, src: src}, nil
}

func (k *legacyKey) nonce(hdr []byte, n uint32) []byte {
	nonce := make([]byte, 0, k.aead.NonceSize())
	nonce = append(nonce, hdr[len(legacyMagic):]...)
	return binary.BigEndian.AppendUint32(nonce, n)
}

func legacyAAD(hdr []byte, n uint32, final bool) []byte {
	a := binary.BigEndian.AppendUint32(append([]byte(nil), hdr...), n)
	if final {
		return append(a, 1)
	}
	return append(a, 0)
}

// legacyReader authenticates and decrypts record by record.
type legacyReader struct {
	k    *legacyKey
	src  io.Reader
	hdr  []byte
	out  []byte
	n    uint32
	done bool
	err  error // sticky
}

func (r *legacyReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			r.err = r.trailing()
			continue
		}
		r.err = r.next()
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *legacyReader) next() error {
	if r.hdr == nil {
		r.hdr = make([]byte, legacyHeaderLen)
		if _, err := io.ReadFull(r.src, r.hdr); err != nil || string(r.hdr[:len(legacyMagic)]) != legacyMagic {
			return r.corrupt("header", err)
		}
	}
	var lb [4]byte
	if _, err := io.ReadFull(r.src, lb[:]); err != nil {
		return r.corrupt("record length", err)
	}
	length := binary.BigEndian.Uint32(lb[:])
	final := length&legacyFinalBit != 0
	length &^= legacyFinalBit
	if length > legacyChunk+uint32(r.k.aead.Overhead()) {
		return r.corrupt("record length", nil)
	}
	ct := make([]byte, length)
	if _, err := io.ReadFull(r.src, ct); err != nil {
		return r.corrupt("record", err)
	}
	plain, err := r.k.aead.Open(ct[:0], r.k.nonce(r.hdr, r.n), ct, legacyAAD(r.hdr, r.n, final))
	if err != nil {
		return r.corrupt("record authentication", nil)
	}
	r.out, r.done = plain, final
	r.n++
	return nil
}

// corrupt reports a failure at what; a read error other than a short
// object is kept so that a network failure is not taken for tampering.
func (r *legacyReader) corrupt(what string, err error) error {
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("seal: legacy %s: %w", what, err)
	}
	return fmt.Errorf("seal: legacy %s, record %d: %w", what, r.n, ErrCorrupt)
}

// trailing reports data after the last record as corruption.
func (r *legacyReader) trailing() error {
	var b [1]byte
	_, err := io.ReadFull(r.src, b[:])
	switch {
	case err == nil:
		return r.corrupt("trailing data", nil)
	case errors.Is(err, io.EOF):
		return io.EOF
	default:
		return fmt.Errorf("seal: legacy: %w", err)
	}
}
