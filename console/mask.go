package console

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/iseed-dev/iseed/dlq"
)

// Placeholders of masked values.
const (
	maskedText  = "•••"
	maskedOther = "•"
)

// maxShown bounds what a page shows of a payload, masked or revealed, in
// bytes of its indented text: a tenant's payload may be as large as NATS
// takes (1 MiB by default, more if configured), many under one id, and
// indented it may be many times larger (10 KB nested 5,000 levels deep is
// some 50 MB, two spaces per level per line); a page of megabytes helps no
// one. iseed dlq show prints more (maxMaskedShown, in cmd/iseed), and
// with -o json or --reveal the whole one.
const maxShown = 64 << 10

// maxKey bounds a key shown in a masked payload.
const maxKey = 64

// maxMaskedValues bounds the values a masked payload shows, each as its
// own line: a payload's values are the tenant's to choose, and an array of
// a million numbers (a few megabytes) would otherwise be decoded whole and
// shown as a page of tens of megabytes on every view. A submission the
// pipeline accepts has at most 16,384 names and values in a member
// (consumer.DecodeSubmission).
const maxMaskedValues = 20_000

// Mask shows a dead letter's payload without personal data: a JSON object
// keeps its shape (its keys are iseed's member names and the schema's field
// names), its version, id, service and options when they have their form
// (dlq.Shown: they name the submission, not a person); every other value
// becomes a placeholder, and so does every key the producer chose freely
// (dlq.FreeKeys: within metadata, within a field's value, a top-level name
// that is not a submission's member): "‹key 1›". A payload that is not a
// JSON object shows as its size only, and so does one of more than
// maxMaskedValues names and values; a value nested deeper than
// dlq.MaxDepth shows as dlq.TooDeep, as iseed dlq show shows it. It
// returns the first maxShown bytes at most of the masked payload,
// indented, and the size of the whole.
func Mask(b []byte) (shown string, size int) {
	if n := values(b); n > maxMaskedValues {
		return whole("(" + strconv.Itoa(len(b)) + " bytes, more than " + strconv.Itoa(maxMaskedValues) +
			" values: too many to show here; iseed dlq show shows it masked)")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil || dec.More() {
		return whole("(" + strconv.Itoa(len(b)) + " bytes, not a JSON object: hidden)")
	}
	top = dlq.FreeKeys(top, func(i int, _ string) string { return "‹key " + strconv.Itoa(i) + "›" })
	out := make(map[string]any, len(top))
	for k, v := range top {
		if dlq.Shown(k, v) { // the rule iseed dlq show follows too
			out[k] = v
		} else {
			out[clipKey(k)] = mask(v, 1)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out) // maps, slices, strings and nil always encode
	return dlq.Indent(buf.Bytes(), maxShown)
}

// whole returns s as Mask returns a text shown whole.
func whole(s string) (string, int) { return s, len(s) }

// mask masks v, a value within depth objects and arrays (dlq.MaskTree,
// the walk iseed dlq show's mask takes, cutting it as deep).
func mask(v any, depth int) any {
	return dlq.MaskTree(v, depth, false, clipKey, func(v any) any {
		if _, ok := v.(string); ok {
			return maskedText
		}
		return maskedOther
	})
}

func clipKey(k string) string {
	if len(k) <= maxKey {
		return k
	}
	cut := maxKey
	for cut > 0 && !utf8.RuneStart(k[cut]) {
		cut--
	}
	return k[:cut] + "…"
}

// values counts, without decoding, about how many values and names b
// holds: the commas, colons and opening brackets outside strings, one
// pass over the bytes and nothing kept.
func values(b []byte) int {
	n, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped = c == '\\'
			inString = c != '"'
		case c == '"':
			inString = true
		case c == ',' || c == ':' || c == '[' || c == '{':
			n++
		}
	}
	return n
}
