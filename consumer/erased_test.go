package consumer

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/record"
)

// TestErasedAfter: what the pipeline stored of a message is removed when
// the record was scrubbed after it was read or written, or when the scrub
// came after the message was published; a record never scrubbed, or a
// copy published after the scrub it read, keeps it.
func TestErasedAfter(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	scrubbed := func(at time.Time) *record.Record { return &record.Record{Scrubbed: at} }
	tests := []struct {
		name        string
		before, cur *record.Record
		published   time.Time
		want        bool
	}{
		{"never scrubbed", scrubbed(time.Time{}), scrubbed(time.Time{}), t0, false},
		{"scrubbed after the record was written", scrubbed(time.Time{}), scrubbed(t0.Add(time.Minute)), t0, true},
		{"scrubbed again", scrubbed(t0), scrubbed(t0.Add(time.Minute)), t0.Add(-time.Hour), true},
		{"scrubbed again by a clock behind", scrubbed(t0), scrubbed(t0.Add(-time.Second)), t0.Add(-time.Hour), true},
		{"read after the scrub, the message from before it", scrubbed(t0), scrubbed(t0), t0.Add(-time.Second), true},
		{"a copy published after the scrub", scrubbed(t0), scrubbed(t0), t0.Add(time.Second), false},
		{"read after the scrub, the message's time unknown", scrubbed(t0), scrubbed(t0), time.Time{}, false},
		{"reopened since", scrubbed(time.Time{}), scrubbed(time.Time{}), t0.Add(-time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := erasedAfter(tt.before, tt.cur, tt.published); got != tt.want {
				t.Errorf("erasedAfter: got %v, want %v", got, tt.want)
			}
		})
	}
}
