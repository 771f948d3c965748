package console

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Placeholders of masked values.
const (
	maskedText  = "•••"
	maskedOther = "•"
)

// maxKey bounds a key shown in a masked payload.
const maxKey = 64

// Mask shows a dead letter's payload without personal data: a JSON object
// keeps its shape (its keys are the schema's field names), its id, service
// and options (which name the submission, not a person); every other value
// becomes a placeholder. A payload that is not a JSON object shows as its
// size only.
func Mask(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil || dec.More() {
		return "(" + strconv.Itoa(len(b)) + " bytes, not a JSON object: hidden)"
	}
	out := make(map[string]any, len(top))
	for k, v := range top {
		switch {
		case (k == "id" || k == "service") && isString(v):
			out[k] = v
		case k == "options" && allStrings(v):
			out[k] = v
		default:
			out[clipKey(k)] = mask(v)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out) // maps, slices, strings and nil always encode
	return buf.String()
}

func mask(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[clipKey(k)] = mask(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = mask(e)
		}
		return out
	case string:
		return maskedText
	case nil:
		return nil
	default:
		return maskedOther
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }

func allStrings(v any) bool {
	list, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range list {
		if !isString(e) {
			return false
		}
	}
	return true
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
