package console

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestRevealCutsAtACharacter: a revealed payload longer than maxShown is
// cut to at most maxShown bytes at the start of a character, wherever
// the bound falls within a multi-byte one, and the whole one's size is
// said.
func TestRevealCutsAtACharacter(t *testing.T) {
	for pad := range 3 {
		payload, _ := json.Marshal(map[string]any{"id": "emp-1", "fields": map[string]string{
			"pad": strings.Repeat("x", pad), "Nome": strings.Repeat("€", maxShown)}})
		shown, size := reveal(payload)
		if len(shown) > maxShown || len(shown) < maxShown-utf8.UTFMax || !utf8.ValidString(shown) {
			t.Errorf("pad %d: got %d bytes shown (valid UTF-8 %v), want at most %d, cut at a character", pad, len(shown), utf8.ValidString(shown), maxShown)
		}
		if size <= 3*maxShown {
			t.Errorf("pad %d: got size %d, want the whole payload's, over %d", pad, size, 3*maxShown)
		}
	}
	shown, size := reveal([]byte(`{"id":"emp-1"}`))
	if want := "{\n  \"id\": \"emp-1\"\n}\n"; shown != want || size != len(want) {
		t.Errorf("a small payload: got %q (%d), want %q whole", shown, size, want)
	}
}
