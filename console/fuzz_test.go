package console

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/iseed-dev/iseed/dlq"
)

// maskedKey is a key within metadata as Mask shows it.
var maskedKey = regexp.MustCompile(`^‹key [1-9][0-9]*›$`)

// FuzzMask: whatever bytes a tenant published, the console's view is
// valid JSON and UTF-8 whose values are placeholders but for the identity
// dlq.Shown allows, and whose keys within metadata are all masked.
func FuzzMask(f *testing.F) {
	for _, s := range []string{
		`{"id":"emp-1","service":"ISEE","options":["urgenza"],"version":1,"fields":{"$0":"Mario","n":3,"ok":true,"x":null},"metadata":{"Mario Rossi":"E-77","t":[{"RSSMRA":1}]}}`,
		`{"id":{"cf":"RSSMRA85T10A562S"},"service":["Mario"],"options":["a",1],"version":"1"}`,
		`{"` + string(bytes.Repeat([]byte("é"), 40)) + `":"x","metadata":"Mario"}`,
		`{"fields":{"a":` + string(bytes.Repeat([]byte("["), 70)) + `"Mario"` + string(bytes.Repeat([]byte("]"), 70)) + `}}`,
		`{"id":"a"} {"id":"b"}`, `["Mario"]`, "{\"fields\":{\"\u202e\":\"\xff\"}}", ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		got, size := Mask(payload)
		if !utf8.ValidString(got) {
			t.Fatalf("Mask(%q) = %q: not UTF-8", payload, got)
		}
		var top map[string]any
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		if dec.Decode(&top) != nil || dec.More() || len(got) < size { // cut: not JSON
			return
		}
		var out map[string]any
		d := json.NewDecoder(bytes.NewReader([]byte(got)))
		d.UseNumber()
		if err := d.Decode(&out); err != nil {
			t.Fatalf("Mask(%q) = %q: not a JSON object: %v", payload, got, err)
		}
		for k, v := range out {
			if in, ok := top[k]; ok && dlq.Shown(k, in) {
				continue
			}
			if !placeholders(v, k == "metadata") {
				t.Fatalf("Mask(%q) shows %q: %v", payload, k, v)
			}
		}
	})
}

// placeholders reports whether v holds no value but the placeholders and
// null, and, with keys set, no key but masked ones.
func placeholders(v any, keys bool) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == maskedText || v == maskedOther || v == dlq.TooDeep
	case map[string]any:
		for k, x := range v {
			if keys && !maskedKey.MatchString(k) || !placeholders(x, keys) {
				return false
			}
		}
		return true
	case []any:
		for _, x := range v {
			if !placeholders(x, keys) {
				return false
			}
		}
		return true
	}
	return false
}
