package consumer

import (
	"encoding/json"
	"testing"
)

func TestEscapedLenIsWhatMarshalWrites(t *testing.T) {
	for _, raw := range []string{`{}`, `{"a":"<b>&c"}`, "{\"l\":\"\u2028\u2029x\"}", `{"n":1,"s":"plain"}`} {
		b, err := json.Marshal(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got := escapedLen([]byte(raw)); got < len(b) {
			t.Errorf("escapedLen(%q) = %d, under the %d bytes Marshal writes", raw, got, len(b))
		}
	}
}

// FuzzEscapedLen: for any JSON value, escapedLen is at least what
// encoding/json writes copying it into a record or an event.
func FuzzEscapedLen(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"<b>&c"}`, "{\"l\":\"\u2028\u2029x\"}", `{"n":1,"s":"plain"}`,
		`{ "k" : [ 1 , "\u003c" ] }`, "\"\xe2\x80\xa8\xff\"", `"\ud800"`, `[null,true,-0.5e+3]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := json.Marshal(json.RawMessage(raw))
		if err != nil {
			return
		}
		if got := escapedLen(raw); got < len(b) {
			t.Fatalf("escapedLen(%q) = %d, under the %d bytes Marshal writes: %q", raw, got, len(b), b)
		}
	})
}
