package record

// MaxIDLen is the longest submission id or tenant accepted.
const MaxIDLen = 64

// ValidToken reports whether s is 1..MaxIDLen characters of [A-Za-z0-9_-]:
// a submission id or a tenant, safe as a NATS subject token and a KV key
// part.
func ValidToken(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
