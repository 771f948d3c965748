package record

import "testing"

func TestIndexKeyRoundTrip(t *testing.T) {
	for _, id := range []string{"5f22f722065afc42223c7131", "a.b/c=d", "è", ""} {
		key := IndexKey(id)
		for i := 0; i < len(key); i++ {
			if c := key[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
				t.Errorf("IndexKey(%q) = %q: byte %q is not safe", id, key, c)
			}
		}
		if got := RequestID(key); got != id {
			t.Errorf("RequestID(IndexKey(%q)) = %q", id, got)
		}
	}
}
