package schema

import "strings"

// Limits of an address (RFC 5321).
const (
	maxEmailLocal  = 64
	maxEmailDomain = 253
	maxEmailLabel  = 63
)

// ValidEmail reports whether addr is one bare e-mail address, by the rules
// of the email field type (no surrounding spaces, no display name).
func ValidEmail(addr string) bool { return checkEmail(addr) == "" }

// checkEmail accepts a bare address: one '@', a dot-atom local part, and a
// domain of at least two labels whose last is not numeric. Display names,
// quoted local parts, IP-literal domains and spaces are refused. Non-ASCII
// bytes are allowed in the domain (internationalised names).
func checkEmail(v string) string {
	at := strings.IndexByte(v, '@')
	if at < 0 || strings.IndexByte(v[at+1:], '@') >= 0 {
		return "must be one e-mail address with exactly one @, e.g. mario.rossi@example.it"
	}
	if reason := checkEmailLocal(v[:at]); reason != "" {
		return reason
	}
	return checkEmailDomain(v[at+1:])
}

func checkEmailLocal(local string) string {
	if local == "" || len(local) > maxEmailLocal {
		return "the part before @ must be 1 to 64 characters"
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "the part before @ must not start or end with a dot, nor have two dots in a row"
	}
	for i := 0; i < len(local); i++ {
		if !isAtext(local[i]) && local[i] != '.' {
			return "the part before @ contains a character not allowed in an address (spaces, quotes, <>, commas…)"
		}
	}
	return ""
}

func checkEmailDomain(domain string) string {
	if len(domain) > maxEmailDomain || strings.IndexByte(domain, '.') < 0 {
		return "the domain after @ must be a name with a dot, e.g. example.it"
	}
	if !printable(domain) {
		return "the domain after @ is not valid UTF-8 text, or contains control characters"
	}
	last := ""
	for label := range strings.SplitSeq(domain, ".") {
		if reason := checkEmailLabel(label); reason != "" {
			return reason
		}
		last = label
	}
	if len(last) < 2 || isAllDigits(last) {
		return "the domain after @ must end with a top-level domain such as .it or .com"
	}
	return ""
}

func checkEmailLabel(label string) string {
	if label == "" || len(label) > maxEmailLabel || label[0] == '-' || label[len(label)-1] == '-' {
		return "the domain after @ is malformed (empty part, or a part starting or ending with '-')"
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(isUpper(c) || c >= 'a' && c <= 'z' || isDigit(c) || c == '-' || c >= 0x80) {
			return "the domain after @ contains a character not allowed in a domain name"
		}
	}
	return ""
}

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	if isUpper(c) || c >= 'a' && c <= 'z' || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '/', '=', '?', '^', '_', '`', '{', '|', '}', '~':
		return true
	}
	return false
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
