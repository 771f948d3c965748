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
