package dlq

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestIndentAsTheEncoder: Indent writes what json.Encoder with
// SetIndent("", "  ") writes, and, past its limit, the start of it and
// the size of the whole.
func TestIndentAsTheEncoder(t *testing.T) {
	for _, src := range []string{
		`{}`, `[]`, `null`, `"a"`, `1`, `{"a":{}}`, `{"a":[]}`, `[[],{},[[]]]`,
		`{"id":"emp-1","fields":{"Nome":"Mario","n":[1,2.5,-3e4],"ok":true,"x":null}}`,
		`{"a\"{[,:":"b\\\"]}","c":["\\",":","\u003c€\u202e"]}`,
		`{"a":` + strings.Repeat("[", 300) + `"x"` + strings.Repeat("]", 300) + `}`,
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(json.RawMessage(src)); err != nil {
			t.Fatal(err)
		}
		if got, size := Indent([]byte(src), 1<<20); got != want.String() || size != want.Len() {
			t.Errorf("Indent(%.40q): got %q (%d bytes), want %q (%d)", src, got, size, want.String(), want.Len())
		}
		for _, limit := range []int{0, 1, 7, want.Len() - 1} {
			if limit >= want.Len() {
				continue
			}
			got, size := Indent([]byte(src), limit)
			if !strings.HasPrefix(want.String(), got) || len(got) > limit || len(got) < limit-3 || size != want.Len() {
				t.Errorf("Indent(%.40q, %d): got %q (%d bytes), want the first %d bytes of %q (%d)", src, limit, got, size, limit, want.String(), want.Len())
			}
		}
	}
}
