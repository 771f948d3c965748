package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/record"
)

// TestTrackListAgeAsTop: a request open 24 seconds is 24s old in track
// list, as in iseed top, not rounded to 0s; hours keep their minutes.
func TestTrackListAgeAsTop(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		age  time.Duration
		want string
	}{{24 * time.Second, "24s"}, {3*time.Hour + 12*time.Minute + 40*time.Second, "3h12m"}} {
		var out bytes.Buffer
		r := &record.Record{Tenant: "acme", ID: "emp-1", State: record.StateSubmitted, RequestID: "r1", Service: "ISEE",
			Created: now.Add(-tt.age)}
		if err := printOpen(&env{stdout: &out, stderr: io.Discard}, []*record.Record{r}, now); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if f := strings.Fields(lines[len(lines)-1]); f[len(f)-1] != tt.want {
			t.Errorf("track list of a request open %s: AGE %q, want %q (%q)", tt.age, f[len(f)-1], tt.want, out.String())
		}
	}
}
