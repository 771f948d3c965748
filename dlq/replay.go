package dlq

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// A replay is authenticated: only an operator holding iseed's replay key
// can mark a message as the replay of a dead letter. The header value is
// "<dead-letter sequence>:<signature>", the signature an HMAC-SHA256 over
// the sequence, the subject the message is published on and the SHA-256 of
// its payload, so that a header cannot be forged, nor moved to another
// subject (another tenant) or another payload. A publisher that copies a
// genuine replay gains nothing: a dead letter reopens a submission at most
// once (record.Record.Replays). A correction carries a second signed
// header, CorrectionHeader (SignCorrection): the pipeline takes a replay's
// payload in place of its submission's recorded one only when it has it;
// a replay the tenant asked for, a third (SignTenantAsked): the pipeline
// reopens a submission its producer withdrew only when it has it.

// SignReplay returns the ReplayHeader value that marks payload, published
// on subject, as the replay of dead letter seq.
func SignReplay(key []byte, seq uint64, subject string, payload []byte) string {
	s := strconv.FormatUint(seq, 10)
	return s + ":" + base64.RawURLEncoding.EncodeToString(replayMAC(key, s, subject, payload))
}

// VerifyReplay returns the dead-letter sequence a ReplayHeader value names
// when its signature holds for subject and payload. ok is false for an
// empty, malformed or forged value (and when key is empty).
func VerifyReplay(key []byte, value, subject string, payload []byte) (seq uint64, ok bool) {
	s, sig, found := strings.Cut(value, ":")
	if !found || len(key) == 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, replayMAC(key, s, subject, payload)) {
		return 0, false
	}
	return n, true
}

// ReplaySeq returns the dead-letter sequence a ReplayHeader value names,
// whether or not its signature holds (0 when it names none): only for
// what may trust it as little as any publisher, such as telling apart the
// dead letters of messages that name different letters.
func ReplaySeq(value string) uint64 {
	s, _, found := strings.Cut(value, ":")
	n, err := strconv.ParseUint(s, 10, 64)
	if !found || err != nil {
		return 0
	}
	return n
}

// SignCorrection returns the CorrectionHeader value that marks payload,
// published on subject as the replay of dead letter seq, as a correction:
// an operator asked explicitly that it take the place of the payload its
// submission was recorded with. Signed as the ReplayHeader is, but apart
// from it (another HMAC input), so that a copy of a plain replay cannot be
// made a correction, and a daemon older than the mark, which ignores it,
// still verifies the replay.
func SignCorrection(key []byte, seq uint64, subject string, payload []byte) string {
	return signMark(key, correctionDomain, seq, subject, payload)
}

// VerifyCorrection reports whether value, a CorrectionHeader, marks
// payload, published on subject as the replay of dead letter seq, as a
// correction. It is false for an empty, malformed or forged value, for
// seq 0 and when key is empty: the replay is then a plain one.
func VerifyCorrection(key []byte, value string, seq uint64, subject string, payload []byte) bool {
	return verifyMark(key, correctionDomain, value, seq, subject, payload)
}

// SignTenantAsked returns the TenantAskedHeader value that marks payload,
// published on subject as the replay of dead letter seq, as one the
// tenant asked for. Signed as the CorrectionHeader is, under an HMAC
// input of its own.
func SignTenantAsked(key []byte, seq uint64, subject string, payload []byte) string {
	return signMark(key, tenantAskedDomain, seq, subject, payload)
}

// VerifyTenantAsked reports whether value, a TenantAskedHeader, marks
// payload, published on subject as the replay of dead letter seq, as one
// the tenant asked for. It is false for an empty, malformed or forged
// value, for seq 0 and when key is empty.
func VerifyTenantAsked(key []byte, value string, seq uint64, subject string, payload []byte) bool {
	return verifyMark(key, tenantAskedDomain, value, seq, subject, payload)
}

// The HMAC inputs of a replay's marks, one each (signMark).
const (
	correctionDomain  = "iseed-replay-correction-v1"
	tenantAskedDomain = "iseed-replay-tenant-asked-v1"
)

// signMark returns the value of a replay's mark under domain: an HMAC of
// the letter's sequence, the subject and the payload's SHA-256.
func signMark(key []byte, domain string, seq uint64, subject string, payload []byte) string {
	return base64.RawURLEncoding.EncodeToString(payloadMAC(key, domain, strconv.FormatUint(seq, 10), subject, payload))
}

// verifyMark reports whether value is signMark's for the same inputs; false
// for an empty or malformed value, for seq 0 and when key is empty.
func verifyMark(key []byte, domain, value string, seq uint64, subject string, payload []byte) bool {
	if value == "" || seq == 0 || len(key) == 0 {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(value)
	return err == nil && hmac.Equal(got, payloadMAC(key, domain, strconv.FormatUint(seq, 10), subject, payload))
}

// KeyID names a replay key without revealing it: the daemon notes the id
// of the key it verifies replays with, and an operator's command compares
// its own before signing anything (a replay signed with another key is
// taken as an ordinary message).
func KeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("iseed-replay-key-id-v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ReplayToken is what the message ids of dead letter seq's replays hold
// (Queue.ReplayWith): the same for every replay of the letter stored at
// stored, whatever its payload, and unguessable without key, so that
// nobody can publish a message with that id first and have the replay
// dropped as its duplicate. The letter's time tells it apart from a
// letter of a DLQ stream made anew under the same sequence.
func ReplayToken(key []byte, seq uint64, stored time.Time) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("iseed-replay-msgid-v1\x00" + strconv.FormatUint(seq, 10) + "\x00" + strconv.FormatInt(stored.UnixNano(), 10)))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func replayMAC(key []byte, seq, subject string, payload []byte) []byte {
	return payloadMAC(key, "iseed-replay-v1", seq, subject, payload)
}

func payloadMAC(key []byte, domain, seq, subject string, payload []byte) []byte {
	digest := sha256.Sum256(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domain + "\x00" + seq + "\x00" + subject + "\x00"))
	m.Write(digest[:])
	return m.Sum(nil)
}
