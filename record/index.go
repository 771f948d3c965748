package record

import (
	"fmt"
	"strings"
)

// The request index (KV bucket iseed_requests) maps an upstream request id
// to the submission that owns it ("<tenant>.<id>"), so that a request is
// never adopted by two submissions. Its keys are request ids made safe for
// KV: every byte outside [A-Za-z0-9_-] becomes "=xx".

// IndexKey is the request index's key of an upstream request id.
func IndexKey(requestID string) string {
	var b strings.Builder
	for i := 0; i < len(requestID); i++ {
		c := requestID[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02x", c)
		}
	}
	return b.String()
}

// RequestID is the upstream request id of a request index key.
func RequestID(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		if key[i] == '=' && i+2 < len(key) {
			var c byte
			if _, err := fmt.Sscanf(key[i+1:i+3], "%02x", &c); err == nil {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(key[i])
	}
	return b.String()
}

// disownedPrefix starts the request index value of a request an operator
// declared not iseed's (iseed audit disown). No submission key starts with
// it: keys are tokens of [A-Za-z0-9_-] joined by a dot.
const disownedPrefix = "disowned:"

// Disowned is the request index value of a request an operator declared
// not iseed's while reconciling the submission key: no submission may
// adopt it, so reconciliation passes it by.
func Disowned(key string) string { return disownedPrefix + key }

// DisownedFor returns the submission key a Disowned index value names,
// and whether owner is one.
func DisownedFor(owner string) (string, bool) { return strings.CutPrefix(owner, disownedPrefix) }
