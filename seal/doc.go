// Package seal encrypts stored documents (ISEE certificates and DSU
// receipts: personal data) at rest, and decrypts them for whoever holds a
// key.
//
// # Formats
//
// Every new object is an age file (https://age-encryption.org/v1, the
// reviewed format of filippo.io/age): a header that wraps a random 128-bit
// file key once for each recipient (X25519, or hybrid post-quantum
// "age1pq1…" recipients, never the two mixed), then the payload in 64 KiB
// chunks sealed with ChaCha20-Poly1305 under a key derived from the file key
// and a fresh nonce, with a chunk counter and a last-chunk flag so that
// chunks cannot be reordered, dropped or the stream truncated unnoticed. The
// document streams through: it is never held in memory whole. Its object
// metadata says
//
//	encryption: age-v1
//	recipients: 1a2b3c4d,5e6f7a8b
//
// where each recipient id is the first 8 hex digits of the SHA-256 of the
// recipient's "age1…" string ([RecipientID]); the ids only name keys in
// messages, decryption tries every configured identity.
//
// Objects stored before, in iseed's own chunked AES-256-GCM format, say
// "encryption: iseed-aead-v1" and "key_id: <first 8 hex digits of the
// SHA-256 of the key>". They stay readable with their 32-byte key (see
// legacy.go for the format); nothing new is written in it. An object
// without "encryption" is in clear and [Keyring.Open] returns it as is.
//
// # Threat model
//
// Sealing protects documents from whoever can read the object store but
// holds no identity: a NATS account or operator with access to the bucket,
// a copy of a JetStream store directory, disk or backup, and a stolen
// snapshot. The daemon only needs the recipients (public keys) to seal, so
// a compromised daemon, or one whose configuration leaks, cannot read the
// documents it already stored; only whoever reads documents (the operator's
// command, a downstream service) holds an identity. Per-tenant recipients
// keep one tenant's key from opening another tenant's documents. age
// authenticates every chunk, so a reader detects tampering and truncation
// ([ErrCorrupt]) as long as it reads to io.EOF before acting on the data.
//
// Sealing does not protect from an attacker who holds an identity, nor from
// one inside the running daemon while it handles a document in clear (the
// download sits in a temporary file before it is sealed), nor does it hide
// object names, sizes or metadata (tenant, submission and request ids).
// Object metadata is not authenticated: an attacker with write access can
// swap objects or mark one as clear, which is why callers compare the
// plaintext with the SHA-256 they recorded. age has no signatures: anyone
// who knows a recipient can seal a document to it, so authenticity rests on
// the store's access control and on that recorded digest.
//
// # Key files
//
// Identity file ([Files].Identity): an age identity file, one
// "AGE-SECRET-KEY-1…" line per key ("AGE-SECRET-KEY-PQ-1…" for hybrid
// keys), blank lines and "#" comments allowed, as `age-keygen -o key.txt`
// writes it. Every identity is tried, so rotation is: generate a new key,
// append it to the identity file, switch the recipients to its public key,
// and keep the old identity for as long as old objects exist.
//
// Recipients file ([Files].Recipients): an age recipients file, one
// "age1…" public key per line, "#" comments allowed, as
// `age-keygen -y key.txt` prints it. New objects of every tenant without
// its own recipients are sealed to all of them (list two to let two parties
// read, each with their own identity).
//
// Tenant recipients directory ([Files].TenantRecipients): one recipients
// file per tenant, named exactly after the tenant ([A-Za-z0-9_-], up to 64
// characters); names starting with "." are skipped, so a Kubernetes
// ConfigMap or Secret mounted as a directory works as is. A tenant's file
// replaces the default recipients for that tenant: list the operator's key
// in it too if the operator must read that tenant's documents.
//
// Legacy key file ([Files].LegacyKey): the former ISEED_DOCUMENT_KEY_FILE,
// 32 bytes as 64 hex digits, base64, or raw ([ParseLegacyKey]).
package seal
