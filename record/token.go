package record

import "github.com/iseed-dev/iseed/publisher"

// MaxIDLen is the longest submission id or tenant accepted.
const MaxIDLen = publisher.MaxTokenLen

// ValidToken reports whether s is 1..MaxIDLen characters of [A-Za-z0-9_-]:
// a submission id or a tenant, safe as a NATS subject token and a KV key
// part (publisher.ValidToken).
func ValidToken(s string) bool { return publisher.ValidToken(s) }
