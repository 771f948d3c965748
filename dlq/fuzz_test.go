package dlq

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMask: whatever bytes a tenant published, both views are valid JSON
// and UTF-8; the hidden one shows no string the payload holds as a value
// (but the identity Shown allows) nor any key within its metadata.
func FuzzMask(f *testing.F) {
	for _, s := range []string{
		`{"id":"emp-1","service":"ISEE","options":["urgenza"],"version":1,"fields":{"$0":"Mario","$5":"ci.pdf|data:application/pdf;base64,JVBERi0xLjQK","n":3},"metadata":{"Mario Rossi":"E-77","t":[{"RSSMRA":1}]}}`,
		`{"id":{"cf":"RSSMRA85T10A562S"},"service":["Mario"],"options":["a",1],"version":"1"}`,
		`{"fields":{"f":"data:image/png;base64,iVBORw=="},"metadata":"Mario"}`,
		`{"id":"a"} {"id":"b"}`, `["Mario"]`, `Mario Rossi data:a/b;base64,QUJD`, "{\"fields\":{\"\u202e\":\"\xff\"}}",
		`{"metadata":{"a":{"b":{"c":"d"}}},"version":1e0}`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, reveal := range []bool{false, true} {
			if got := Mask(payload, reveal); !json.Valid(got) || !utf8.Valid(got) {
				t.Fatalf("Mask(%q, %v) = %q: not JSON", payload, reveal, got)
			}
		}
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		var top map[string]any
		if dec.Decode(&top) != nil || dec.More() {
			return
		}
		secret := make(map[string]bool) // string values and metadata keys
		shown := make(map[string]bool)  // the identity, shown as it is
		for k, v := range top {
			if Shown(k, v) {
				strs(v, false, shown)
			} else {
				strs(v, k == "metadata", secret)
			}
		}
		var out map[string]any
		d := json.NewDecoder(bytes.NewReader(Mask(payload, false)))
		d.UseNumber()
		if err := d.Decode(&out); err != nil {
			t.Fatalf("Mask(%q) = not an object: %v", payload, err)
		}
		got := make(map[string]bool)
		for k, v := range out {
			if !Shown(k, v) {
				strs(v, k == "metadata", got)
			}
		}
		for s := range got {
			if secret[s] && !shown[s] && !strings.Contains(s, "‹") {
				t.Fatalf("Mask(%q) shows %q", payload, s)
			}
		}
	})
}

// strs adds to set the strings v holds as values, and its keys too when
// keys is set (or once within an object so marked).
func strs(v any, keys bool, set map[string]bool) {
	switch v := v.(type) {
	case string:
		set[v] = true
	case json.Number:
		set[v.String()] = true
	case map[string]any:
		for k, x := range v {
			if keys {
				set[k] = true
			}
			strs(x, keys, set)
		}
	case []any:
		for _, x := range v {
			strs(x, keys, set)
		}
	}
}
