package keys

import (
	"bytes"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"hex", strings.Repeat("ab", 32) + "\n", true},
		{"base64", "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n", true},
		{"raw", string(raw), true},
		{"short hex", strings.Repeat("ab", 10), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !bytes.Equal(k, raw) {
				t.Errorf("got %x, want %x", k, raw)
			}
		})
	}
}
