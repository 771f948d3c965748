package seal

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
)

// Object metadata keys and values that name how an object is sealed.
const (
	// MetaEncryption names the scheme: SchemeAge, SchemeLegacy, or absent
	// (or empty) for an object stored in clear.
	MetaEncryption = "encryption"
	// MetaRecipients lists, comma-separated, the ids (see [RecipientID]) of
	// the age recipients an object is sealed to.
	MetaRecipients = "recipients"
	// MetaKeyID is the id (see [LegacyKeyID]) of the key of a legacy object.
	MetaKeyID = "key_id"

	// SchemeAge is the age format (https://age-encryption.org/v1) with X25519
	// or hybrid post-quantum recipients: every new object.
	SchemeAge = "age-v1"
	// SchemeLegacy is iseed's former chunked AES-256-GCM format, read only.
	SchemeLegacy = "iseed-aead-v1"
)

var (
	// ErrNoKey reports an object that none of the Keyring's identities or
	// legacy keys can open.
	ErrNoKey = errors.New("no configured key opens this document")
	// ErrCorrupt reports a sealed object that does not authenticate: it was
	// tampered with, truncated, or is not in the format its metadata names.
	ErrCorrupt = errors.New("sealed document is corrupt, truncated or tampered with")
	// ErrNoRecipients reports a Seal for a tenant that has no recipients,
	// neither its own nor the default ones.
	ErrNoRecipients = errors.New("no age recipients to seal to")
	// ErrUnknownScheme reports an object whose MetaEncryption this package
	// does not know.
	ErrUnknownScheme = errors.New("unknown encryption scheme")
)

// Config is the key material of a Keyring. [Load] builds one from files.
type Config struct {
	// Recipients are the default recipients: new objects of every tenant
	// without its own are sealed to all of them.
	Recipients []age.Recipient
	// Tenants maps a tenant to its own recipients, which replace the
	// default ones for that tenant's new objects.
	Tenants map[string][]age.Recipient
	// Identities open age objects; an object opens with any one identity
	// among its recipients. Keep old identities after a rotation.
	Identities []age.Identity
	// LegacyKeys are 32-byte AES-256 keys that open SchemeLegacy objects.
	LegacyKeys [][]byte
}

// Keyring seals new documents with age to their tenant's recipients and
// opens documents sealed to any of its identities or legacy keys. It is
// safe for concurrent use.
type Keyring struct {
	def     recipientSet
	tenants map[string]recipientSet
	ids     []age.Identity
	idIDs   []string
	legacy  map[string]*legacyKey // by LegacyKeyID
}

// recipientSet is a list of recipients with its metadata value.
type recipientSet struct {
	rs   []age.Recipient
	meta string // their ids, comma-separated
}

// New returns a Keyring for cfg. A Keyring with no recipients only opens;
// one with no identities or legacy keys only seals.
func New(cfg Config) (*Keyring, error) {
	k := &Keyring{tenants: make(map[string]recipientSet), ids: slices.Clone(cfg.Identities),
		legacy: make(map[string]*legacyKey)}
	var err error
	if k.def, err = newRecipientSet(cfg.Recipients); err != nil {
		return nil, fmt.Errorf("seal: default recipients: %w", err)
	}
	for tenant, rs := range cfg.Tenants {
		if len(rs) == 0 {
			return nil, fmt.Errorf("seal: tenant %s: no recipients", tenant)
		}
		if k.tenants[tenant], err = newRecipientSet(rs); err != nil {
			return nil, fmt.Errorf("seal: tenant %s: %w", tenant, err)
		}
	}
	for _, id := range cfg.Identities {
		r, err := identityRecipient(id)
		if err != nil {
			return nil, err
		}
		k.idIDs = append(k.idIDs, RecipientID(r))
	}
	for _, key := range cfg.LegacyKeys {
		lk, err := newLegacyKey(key)
		if err != nil {
			return nil, err
		}
		k.legacy[lk.id] = lk
	}
	return k, nil
}

func newRecipientSet(rs []age.Recipient) (recipientSet, error) {
	ids := make([]string, 0, len(rs))
	for _, r := range rs {
		s, ok := r.(fmt.Stringer)
		if !ok {
			return recipientSet{}, fmt.Errorf("recipients of type %T are not supported", r)
		}
		ids = append(ids, RecipientID(s.String()))
	}
	if len(rs) > 0 { // age refuses some mixes (classic with post-quantum): find out now, not per document
		if _, err := age.EncryptReader(strings.NewReader(""), rs...); err != nil {
			return recipientSet{}, err
		}
	}
	return recipientSet{rs: slices.Clone(rs), meta: strings.Join(ids, ",")}, nil
}

// identityRecipient returns the string form of the recipient that an
// identity opens.
func identityRecipient(id age.Identity) (string, error) {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String(), nil
	case *age.HybridIdentity:
		return id.Recipient().String(), nil
	}
	return "", fmt.Errorf("seal: identities of type %T are not supported", id)
}

// RecipientID names a recipient, given in its string form ("age1…"), in
// metadata and messages without quoting it whole: the first 8 hex digits of
// the SHA-256 of that string, as `printf %s age1… | sha256sum | cut -c1-8`
// prints it.
func RecipientID(recipient string) string {
	sum := sha256.Sum256([]byte(recipient))
	return hex.EncodeToString(sum[:4])
}

// recipients returns the recipients of tenant's new objects.
func (k *Keyring) recipients(tenant string) recipientSet {
	if rs, ok := k.tenants[tenant]; ok {
		return rs
	}
	return k.def
}

// CanSeal reports whether Seal has recipients for tenant.
func (k *Keyring) CanSeal(tenant string) bool {
	return len(k.recipients(tenant).rs) > 0
}

// Seal returns a reader of src sealed with age to tenant's recipients, and
// the metadata to store with the object (MetaEncryption, MetaRecipients).
// src is read as the result is, 64 KiB at a time: the document is never
// held whole.
func (k *Keyring) Seal(src io.Reader, tenant string) (io.Reader, map[string]string, error) {
	rs := k.recipients(tenant)
	if len(rs.rs) == 0 {
		return nil, nil, fmt.Errorf("seal: tenant %s: %w", tenant, ErrNoRecipients)
	}
	r, err := age.EncryptReader(src, rs.rs...)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: %w", err)
	}
	return r, map[string]string{MetaEncryption: SchemeAge, MetaRecipients: rs.meta}, nil
}

// Open returns a reader of the plaintext of src, an object stored with
// metadata meta. An object without MetaEncryption is in clear and returned
// as it is: object metadata is not authenticated, so callers check the
// plaintext's digest as they do today. Open fails with ErrNoKey when no
// configured key opens the object; the returned reader's Read fails with
// ErrCorrupt when the object does not authenticate, at the latest at its
// end, so a reader must consume it to io.EOF before trusting what it read.
func (k *Keyring) Open(src io.Reader, meta map[string]string) (io.Reader, error) {
	switch scheme := meta[MetaEncryption]; scheme {
	case "":
		return src, nil
	case SchemeAge:
		return k.openAge(src, meta[MetaRecipients])
	case SchemeLegacy:
		return k.openLegacy(src, meta[MetaKeyID])
	default:
		return nil, fmt.Errorf("seal: %w %q", ErrUnknownScheme, scheme)
	}
}

func (k *Keyring) openAge(src io.Reader, sealedTo string) (io.Reader, error) {
	if len(k.ids) == 0 {
		return nil, fmt.Errorf("seal: %w: the document is sealed with age to recipients %s and no identity file is configured", ErrNoKey, sealedTo)
	}
	tap := &errTap{r: src}
	r, err := age.Decrypt(tap, k.ids...)
	var noMatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &noMatch):
		return nil, fmt.Errorf("seal: %w: the document is sealed with age to recipients %s, the identities configured are %s",
			ErrNoKey, sealedTo, strings.Join(k.idIDs, ","))
	case err != nil:
		return nil, tap.classify(err)
	}
	return &classifyReader{r: r, tap: tap}, nil
}

// errTap remembers the last error of a source other than io.EOF, so that a
// failure to read the object is not reported as tampering.
type errTap struct {
	r   io.Reader
	err error
}

func (t *errTap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		t.err = err
	}
	return n, err
}

// classify wraps err, met while decrypting, as a read error when it is the
// source's, or else as ErrCorrupt.
func (t *errTap) classify(err error) error {
	if t.err != nil && errors.Is(err, t.err) {
		return fmt.Errorf("seal: read: %w", err)
	}
	return fmt.Errorf("seal: %w: %w", ErrCorrupt, err)
}

// classifyReader classifies the errors of age's decrypting reader.
type classifyReader struct {
	r   io.Reader
	tap *errTap
}

func (c *classifyReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = c.tap.classify(err)
	}
	return n, err
}
