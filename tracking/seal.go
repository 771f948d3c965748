package tracking

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Encryption at rest of stored documents ("iseed-aead-v1").
//
// AES-256-GCM cannot seal a stream in one go without holding it whole, so
// the document is cut into chunks of 64 KiB, each sealed on its own:
//
//	header  = "ISD1" || prefix (8 random bytes, fresh per object)
//	record  = length (uint32 big endian; top bit set on the last record) || ciphertext+tag
//	nonce   = prefix || chunk counter (uint32 big endian, from 0)
//	AAD     = header || counter || final flag (1 byte)
//
// The counter in the nonce and the AAD stops chunks from being reordered or
// moved between objects (the prefix differs); the final flag in the AAD and
// the rule that the last record must be flagged stop truncation. An empty
// document is one empty, flagged record. The key id (first 8 hex digits of
// SHA-256 of the key) names the key in the object's metadata, so a rotated
// key is recognised rather than tried blindly.
const (
	sealMagic     = "ISD1"
	sealPrefixLen = 8
	sealHeaderLen = len(sealMagic) + sealPrefixLen
	sealChunk     = 64 << 10
	sealFinalBit  = 1 << 31
	// SealScheme names the scheme in object metadata.
	SealScheme = "iseed-aead-v1"
)

// ErrSealedCorrupt reports an encrypted document that does not decrypt:
// wrong key, tampered, truncated or not in the iseed format.
var ErrSealedCorrupt = errors.New("encrypted document is corrupt, truncated or sealed with another key")

// Sealer encrypts and decrypts documents with one AES-256 key.
type Sealer struct {
	aead  cipher.AEAD
	keyID string
}

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("document key: got %d bytes, want 32 (AES-256)", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("document key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("document key: %w", err)
	}
	return &Sealer{aead: aead, keyID: KeyID(key)}, nil
}

// KeyID names a key without revealing it: the first 8 hex digits of its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// KeyID returns the id of the Sealer's key.
func (s *Sealer) KeyID() string { return s.keyID }

// Seal returns a reader of the encrypted form of src.
func (s *Sealer) Seal(src io.Reader) (io.Reader, error) {
	hdr := make([]byte, sealHeaderLen)
	copy(hdr, sealMagic)
	if _, err := rand.Read(hdr[len(sealMagic):]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return &sealReader{s: s, src: src, hdr: hdr, out: bytes.NewBuffer(append([]byte(nil), hdr...)),
		plain: make([]byte, sealChunk)}, nil
}

// Open returns a reader of the plaintext of an encrypted src. Its Read
// fails with ErrSealedCorrupt when src does not authenticate.
func (s *Sealer) Open(src io.Reader) io.Reader {
	return &openReader{s: s, src: src}
}

func (s *Sealer) nonce(hdr []byte, n uint32) []byte {
	nonce := make([]byte, 0, s.aead.NonceSize())
	nonce = append(nonce, hdr[len(sealMagic):]...)
	return binary.BigEndian.AppendUint32(nonce, n)
}

func aad(hdr []byte, n uint32, final bool) []byte {
	a := binary.BigEndian.AppendUint32(append([]byte(nil), hdr...), n)
	if final {
		return append(a, 1)
	}
	return append(a, 0)
}

// sealReader produces header and records one chunk at a time.
type sealReader struct {
	s     *Sealer
	src   io.Reader
	hdr   []byte
	out   *bytes.Buffer
	plain []byte
	n     uint32
	done  bool
}

func (r *sealReader) Read(p []byte) (int, error) {
	for r.out.Len() == 0 {
		if r.done {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	return r.out.Read(p)
}

func (r *sealReader) next() error {
	m, err := io.ReadFull(r.src, r.plain)
	final := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !final {
		return fmt.Errorf("seal: read: %w", err)
	}
	ct := r.s.aead.Seal(nil, r.s.nonce(r.hdr, r.n), r.plain[:m], aad(r.hdr, r.n, final))
	length := uint32(len(ct))
	if final {
		length |= sealFinalBit
	}
	r.out.Write(binary.BigEndian.AppendUint32(nil, length))
	r.out.Write(ct)
	r.n++
	r.done = final
	return nil
}

// openReader authenticates and decrypts record by record.
type openReader struct {
	s    *Sealer
	src  io.Reader
	hdr  []byte
	out  []byte
	n    uint32
	done bool
}

func (r *openReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.done {
			return 0, r.trailing()
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *openReader) next() error {
	if r.hdr == nil {
		r.hdr = make([]byte, sealHeaderLen)
		if _, err := io.ReadFull(r.src, r.hdr); err != nil || string(r.hdr[:len(sealMagic)]) != sealMagic {
			return ErrSealedCorrupt
		}
	}
	var lb [4]byte
	if _, err := io.ReadFull(r.src, lb[:]); err != nil {
		return ErrSealedCorrupt
	}
	length := binary.BigEndian.Uint32(lb[:])
	final := length&sealFinalBit != 0
	length &^= sealFinalBit
	if length > sealChunk+uint32(r.s.aead.Overhead()) {
		return ErrSealedCorrupt
	}
	ct := make([]byte, length)
	if _, err := io.ReadFull(r.src, ct); err != nil {
		return ErrSealedCorrupt
	}
	plain, err := r.s.aead.Open(ct[:0], r.s.nonce(r.hdr, r.n), ct, aad(r.hdr, r.n, final))
	if err != nil {
		return ErrSealedCorrupt
	}
	r.out, r.done = plain, final
	r.n++
	return nil
}

// trailing reports data after the last record as corruption.
func (r *openReader) trailing() error {
	var b [1]byte
	if _, err := io.ReadFull(r.src, b[:]); err == nil {
		return ErrSealedCorrupt
	}
	return io.EOF
}
