package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestTopOffATerminal: when standard output is a file or a pipe, `iseed top`
// prints one snapshot and exits, in either format, with no screen clearing.
func TestTopOffATerminal(t *testing.T) {
	startCLIDaemon(t)
	tests := []struct {
		format string
		valid  func(out string) bool
	}{
		{"table", func(out string) bool { return strings.Count(out, "iseed overview") == 1 }},
		{"json", func(out string) bool { return json.Valid([]byte(out)) }},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			const limit = 30 * time.Second
			start := time.Now()
			out, errOut, code := runCLIFor(t, limit, "top", "-o", tt.format, "--every", "100ms")
			if took := time.Since(start); took >= limit {
				t.Errorf("top -o %s off a terminal ran until stopped (%s); want one snapshot and exit", tt.format, took)
			}
			if code != 0 || !tt.valid(out) || strings.Contains(out, "\x1b[") || strings.Contains(out, "refreshing every") {
				t.Errorf("top -o %s off a terminal: exit %d, stdout %q, stderr %q; want 0 and one snapshot, no screen clearing",
					tt.format, code, out, errOut)
			}
		})
	}
}
