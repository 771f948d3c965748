package schema

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// File values take one of two forms:
//
//	inline:    <file name>|data:<type>/<subtype>[;<attr>=<value>]…;base64,<standard base64>
//	reference: [<file name>|]nats-os://<bucket>/<object name>
//
// The inline form is what the upstream takes. A reference names an object
// in a JetStream Object Store bucket; ResolveFiles replaces it with the
// inline form just before submission.
const (
	refScheme     = "nats-os://"
	inlineMarker  = "data:"
	base64Marker  = ";base64,"
	maxFileName   = 255  // bytes
	maxMediaType  = 255  // bytes of an inline file's media type and parameters
	maxObjectName = 1024 // bytes
)

// inlineFile is a parsed inline file; data is still base64.
type inlineFile struct {
	name, mime, data string
	size             int64 // decoded size in bytes
}

// parseInlineFile parses the inline form without decoding the data: the
// base64 alphabet and padding are checked and the decoded size computed.
func parseInlineFile(v string) (inlineFile, string) {
	sep := strings.IndexByte(v, '|')
	if sep < 0 || !strings.HasPrefix(v[sep+1:], inlineMarker) {
		return inlineFile{}, "must be a file in the form name|data:<type>;base64,<data> or a nats-os:// reference"
	}
	f := inlineFile{name: v[:sep]}
	if reason := checkFileName(f.name); reason != "" {
		return inlineFile{}, reason
	}
	rest := v[sep+1+len(inlineMarker):]
	end := strings.Index(rest, base64Marker)
	if end < 0 {
		return inlineFile{}, "the data URL must be base64: data:<type>;base64,<data>"
	}
	f.mime, f.data = rest[:end], rest[end+len(base64Marker):]
	if len(f.mime) > maxMediaType || !validMediaType(f.mime) {
		return inlineFile{}, "the data URL needs a media type such as application/pdf (at most 255 bytes)"
	}
	size, reason := base64Size(f.data)
	if reason != "" {
		return inlineFile{}, reason
	}
	f.size = size
	return f, ""
}

func checkFileName(name string) string {
	if name == "" || len(name) > maxFileName {
		return "the file name before '|' must be 1 to 255 bytes"
	}
	if !printable(name) {
		return "the file name contains control characters or invalid UTF-8"
	}
	return ""
}

// validMediaType accepts type/subtype followed by ;attr=value parameters.
func validMediaType(m string) bool {
	typ, params, _ := strings.Cut(m, ";")
	major, minor, ok := strings.Cut(typ, "/")
	if !ok || !isToken(major) || !isToken(minor) {
		return false
	}
	if params == "" {
		return true
	}
	for p := range strings.SplitSeq(params, ";") {
		attr, value, ok := strings.Cut(p, "=")
		if !ok || !isToken(attr) || !isToken(value) {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 2045 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=':
			return false
		default:
			if c <= ' ' || c >= 0x7f {
				return false
			}
		}
	}
	return s != ""
}

// base64Size checks standard padded base64 (no line breaks) and returns the
// decoded size.
func base64Size(data string) (int64, string) {
	if data == "" {
		return 0, "the file is empty"
	}
	if len(data)%4 != 0 {
		return 0, "the base64 data is truncated (its length is not a multiple of 4)"
	}
	pad := 0
	if data[len(data)-1] == '=' {
		pad++
		if data[len(data)-2] == '=' {
			pad++
		}
	}
	body := data[:len(data)-pad]
	for i := 0; i < len(body); i++ {
		if !isBase64(body[i]) {
			return 0, fmt.Sprintf("the base64 data has an invalid character at offset %d", i)
		}
	}
	return int64(len(data)/4*3 - pad), ""
}

// isBase64 reports whether c is in the standard base64 alphabet, with two
// 64-bit masks instead of five comparisons: it is the inner loop of file checks.
func isBase64(c byte) bool {
	const (
		low  = 1<<'+' | 1<<'/' | (1<<10-1)<<'0'          // c < 64
		high = (1<<26-1)<<('A'-64) | (1<<26-1)<<('a'-64) // 64 ≤ c < 128
	)
	switch {
	case c < 64:
		return low>>c&1 != 0
	case c < 128:
		return high>>(c-64)&1 != 0
	}
	return false
}

// fileRef is a parsed Object Store reference.
type fileRef struct {
	name, bucket, object string // name may be empty: the object's own name is used
}

// isFileRef reports whether v is in the reference form (valid or not).
func isFileRef(v string) bool {
	if strings.HasPrefix(v, refScheme) {
		return true
	}
	sep := strings.IndexByte(v, '|')
	return sep >= 0 && strings.HasPrefix(v[sep+1:], refScheme)
}

// parseFileRef parses "[name|]nats-os://bucket/object".
func parseFileRef(v string) (fileRef, string) {
	var r fileRef
	if sep := strings.IndexByte(v, '|'); sep >= 0 && !strings.HasPrefix(v, refScheme) {
		r.name, v = v[:sep], v[sep+1:]
		if reason := checkFileName(r.name); reason != "" {
			return fileRef{}, reason
		}
	}
	rest, ok := strings.CutPrefix(v, refScheme)
	if !ok {
		return fileRef{}, "must be a reference of the form [name|]nats-os://<bucket>/<object>"
	}
	r.bucket, r.object, ok = strings.Cut(rest, "/")
	if !ok || !validBucket(r.bucket) {
		return fileRef{}, "the bucket of a nats-os:// reference must be letters, digits, '-' or '_', followed by /<object>"
	}
	if r.object == "" || len(r.object) > maxObjectName || !printable(r.object) {
		return fileRef{}, "the object name of a nats-os:// reference must be 1 to 1024 bytes of printable text"
	}
	return r, ""
}

// validBucket matches the Object Store's bucket names: [a-zA-Z0-9_-]+.
func validBucket(b string) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(isUpper(c) || c >= 'a' && c <= 'z' || isDigit(c) || c == '-' || c == '_') {
			return false
		}
	}
	return b != ""
}

// printable reports whether s is valid UTF-8 without control characters
// (U+FFFD, the mark of a bad encoding, is refused too).
func printable(s string) bool {
	for _, r := range s {
		if isControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// checkFile checks a file value: inline within lim.MaxFileBytes, or a
// well-formed reference (its size is checked when it is resolved).
func checkFile(v string, lim Limits) checked {
	if isFileRef(v) {
		if _, reason := parseFileRef(v); reason != "" {
			return invalid(CodeInvalidFileRef, reason)
		}
		return checked{value: v, ref: true}
	}
	f, reason := parseInlineFile(v)
	if reason != "" {
		return invalid(CodeInvalidFile, reason)
	}
	if f.size > lim.MaxFileBytes {
		return invalid(CodeFileTooLarge, fmt.Sprintf("the file is %d bytes; at most %d are allowed", f.size, lim.MaxFileBytes))
	}
	return checked{value: v, size: f.size}
}
