package dlq

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Shown reports whether v, the top-level member k of a submission decoded
// with UseNumber, names the submission rather than a person, so that a
// masked view shows it as it is: version when it is the number 1, id and
// service when they are strings, options when it is an array of strings.
// Anything else under those names (a producer that put the person in the
// wrong member) is masked like any other value, and so is a string that
// is an inline file: a file's contents are never shown. Mask and the
// console's mask both ask it, so that the two show the same.
func Shown(k string, v any) bool {
	switch k {
	case "version":
		return v == json.Number("1")
	case "id", "service":
		return name(v)
	case "options":
		list, ok := v.([]any)
		for _, e := range list {
			if !name(e) {
				return false
			}
		}
		return ok
	}
	return false
}

// name reports whether v is a string that is not an inline file.
func name(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	_, file := inlineFile(s)
	return !file
}

// MaxDepth bounds how deep a masked payload shows its values: a value
// nested deeper (within more than MaxDepth objects and arrays) is shown as
// TooDeep. A payload is the tenant's to choose, and 10 KB nested 5,000
// levels deep is some 50 MB indented, two spaces per level per line.
const MaxDepth = 64

// TooDeep is what a masked payload shows of a value nested deeper than
// MaxDepth.
const TooDeep = "‹nested deeper than 64 levels›"

// Mask returns a dead letter's payload for showing to a person. Hidden, the
// payload keeps its shape and its identity (version, id, service, options,
// as Shown says) but every other value is replaced by its type and length: "‹text, 16
// chars›", "‹number›", and so is every key the producer chose freely
// (FreeKeys): "‹key 1, 11 chars›"; an inline file is named by its media
// type only when that is a common document type: "‹file application/pdf,
// 9 bytes›", else "‹file of another type, 9 bytes›". Revealed, values, keys
// and types are shown. Either way an inline file's contents never are. A payload
// that is not a JSON object is shown as its size, or revealed as a string
// with every inline file's contents replaced by their size. Hidden, a
// value nested deeper than MaxDepth is TooDeep; revealed, it is shown.
func Mask(payload []byte, reveal bool) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil || dec.More() {
		if reveal {
			return quote(hideInlineFiles(strings.ToValidUTF8(string(payload), "\uFFFD")))
		}
		return quote(fmt.Sprintf("‹%d bytes, not a JSON object›", len(payload)))
	}
	for k, v := range top {
		if !Shown(k, v) {
			top[k] = maskValue(v, reveal, 1)
		}
	}
	if !reveal {
		top = FreeKeys(top, func(i int, k string) string {
			return fmt.Sprintf("‹key %d, %d chars›", i, utf8.RuneCountInString(k))
		})
	}
	b, _ := json.Marshal(top) // only values decoded from JSON: cannot fail
	return b
}

// maskValue masks v, a value within depth objects and arrays.
func maskValue(v any, reveal bool, depth int) any {
	return MaskTree(v, depth, reveal, func(k string) string { return k }, func(v any) any { return maskLeaf(v, reveal) })
}

// MaskTree returns v, a value within depth objects and arrays of a payload
// decoded with UseNumber, with every key k of its objects as key(k) and
// every other value but null (a string, a number, a bool) as leaf(v); a
// value nested deeper than MaxDepth is TooDeep, unless whole. Mask and the
// console's mask both walk a payload with it, so that they cut it at the
// same depth, each with its own placeholders.
func MaskTree(v any, depth int, whole bool, key func(string) string, leaf func(any) any) any {
	if !whole && depth > MaxDepth {
		return TooDeep
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[key(k)] = MaskTree(x, depth+1, whole, key, leaf)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = MaskTree(x, depth+1, whole, key, leaf)
		}
		return out
	case nil:
		return nil
	}
	return leaf(v)
}

// maskLeaf masks v, a string, a number or a bool.
func maskLeaf(v any, reveal bool) any {
	switch v := v.(type) {
	case string:
		if f, ok := inlineFile(v); ok {
			if reveal {
				return fmt.Sprintf("‹file %s, %s, %d bytes›", f.name, f.mime, f.size)
			}
			typ, ok := documentType(f.mime)
			if !ok { // the producer writes it: it may name the person
				return fmt.Sprintf("‹file of another type, %d bytes›", f.size)
			}
			return fmt.Sprintf("‹file %s, %d bytes›", typ, f.size)
		}
		if reveal {
			return v
		}
		return fmt.Sprintf("‹text, %d chars›", utf8.RuneCountInString(v))
	case json.Number:
		if reveal {
			return v
		}
		return "‹number›"
	case bool:
		if reveal {
			return v
		}
		return "‹bool›"
	}
	return v
}

// SubmissionMembers are the members of a submission (the pipeline's
// decoder refuses any other): every other top-level name is the
// producer's own.
var SubmissionMembers = []string{"version", "id", "service", "fields", "options", "email_target", "metadata"}

// FreeKeys returns top, a payload's members, with every key the producer
// chose freely replaced by masked(i, key), as MetadataKeys replaces them:
// a top-level name that is not one of SubmissionMembers, every key within
// metadata, and every key of an object given as a field's value or as
// another member's. A field's own name stays: it is the schema's, and
// says which field a problem (unknown_field) is about. Mask and the
// console's mask both use it.
func FreeKeys(top map[string]any, masked func(i int, key string) string) map[string]any {
	out := make(map[string]any, len(top))
	var free []string
	for k, v := range top {
		fields, isObject := v.(map[string]any)
		switch {
		case !slices.Contains(SubmissionMembers, k):
			free = append(free, k)
		case k == "fields" && isObject:
			kept := make(map[string]any, len(fields))
			for name, fv := range fields {
				kept[name] = MetadataKeys(fv, masked)
			}
			out[k] = kept
		default:
			out[k] = MetadataKeys(v, masked)
		}
	}
	slices.Sort(free)
	for i, k := range free {
		out[masked(i+1, k)] = MetadataKeys(top[k], masked)
	}
	return out
}

// documentTypes are the media types a masked inline file is named by:
// those of the documents a submission carries. Any other is the
// producer's text, which may name the person.
var documentTypes = []string{"application/pdf", "application/pkcs7-mime", "application/xml", "application/zip",
	"application/octet-stream", "image/jpeg", "image/png", "image/gif", "image/tiff", "image/webp", "image/heic", "text/plain"}

// documentType returns the type of mime, an inline file's media type,
// without its parameters, and whether it is one of documentTypes. Only
// that type is shown masked: the parameters are the producer's text too
// ("application/pdf;name=<the person>.pdf").
func documentType(mime string) (string, bool) {
	typ, _, _ := strings.Cut(mime, ";")
	typ = strings.ToLower(strings.TrimSpace(typ))
	return typ, slices.Contains(documentTypes, typ)
}

// MetadataKeys returns v, a submission's metadata, with the keys of every
// object in it replaced by masked(i, key), i counting an object's keys from
// 1 in their sorted order, so that no two collide. Metadata is the
// producer's free-form object: unlike the payload's other keys, which are
// iseed's member names and the schema's field names, its keys may name the
// person ({"Mario Rossi": "E-77"}). Mask and the console's mask both use it.
func MetadataKeys(v any, masked func(i int, key string) string) any {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make(map[string]any, len(v))
		for i, k := range keys {
			out[masked(i+1, k)] = MetadataKeys(v[k], masked)
		}
		return out
	case []any:
		for i, x := range v {
			v[i] = MetadataKeys(x, masked)
		}
		return v
	}
	return v
}

// file is what Mask tells of an inline file.
type file struct {
	name, mime string
	size       int
}

// inlineFile recognises "[name|]data:<type>[;…];base64,<data>", the inline
// form of a file value.
func inlineFile(v string) (file, bool) {
	var f file
	if name, rest, ok := strings.Cut(v, "|"); ok && strings.HasPrefix(rest, "data:") {
		f.name, v = name, rest
	}
	rest, ok := strings.CutPrefix(v, "data:")
	if !ok {
		return f, false
	}
	mime, data, ok := strings.Cut(rest, ";base64,")
	if !ok {
		return f, false
	}
	f.mime = mime
	f.size = len(data) / 4 * 3
	if n := len(data); n%4 == 0 && n > 0 {
		f.size -= strings.Count(data[n-2:], "=")
	}
	return f, true
}

// inlineData is the base64 contents of an inline file anywhere in a text:
// "data:<type>[;…];base64," and what follows in the base64 alphabets,
// escaped slashes included.
var inlineData = regexp.MustCompile(`(data:[^;,"\s]*(?:;[^;,"\s]*)*;base64,)((?:[A-Za-z0-9+/=_-]|\\/)+)`)

// hideInlineFiles replaces the contents of every inline file in s, a
// payload that does not decode as one JSON object (trailing data, an
// array), by their size.
func hideInlineFiles(s string) string {
	return inlineData.ReplaceAllStringFunc(s, func(m string) string {
		sub := inlineData.FindStringSubmatch(m)
		return sub[1] + fmt.Sprintf("‹%d bytes›", len(strings.ReplaceAll(sub[2], `\/`, "/"))/4*3)
	})
}

func quote(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
