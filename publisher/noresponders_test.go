package publisher_test

import (
	"context"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/publisher"
)

// TestReadEventsRidesOutNoResponders: a fetch answered "no responders"
// while events remain is tried again, as a fetch that timed out is; the
// whole list comes back. Three in a row still end it, incomplete.
func TestReadEventsRidesOutNoResponders(t *testing.T) {
	publisher.SetEventsBatch(t, 1) // a fetch an event: the second and third exist
	s := publisher.SubjectsFor("")
	for _, tt := range []struct {
		name     string
		fail     func(n int64) bool
		wantErr  bool
		wantRead int
	}{
		{"the second fetch", func(n int64) bool { return n == 2 }, false, 3},
		{"the second and third", func(n int64) bool { return n == 2 || n == 3 }, false, 3},
		{"every fetch after the first", func(n int64) bool { return n >= 2 }, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inner, _ := eventsThrough(t, func(int64) bool { return false })
			js := natstest.NewNoRespondersJS(inner, tt.fail)
			got, err := publisher.ReadEvents(context.Background(), js, "EV", s, "acme", "s1")
			if (err != nil) != tt.wantErr || len(got) != tt.wantRead {
				t.Errorf("ReadEvents: got %d events and error %v, want %d events and an error: %v", len(got), err, tt.wantRead, tt.wantErr)
			}
		})
	}
}
