package dlq

import (
	"context"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
)

// TestQueueListRidesOutNoResponders: a fetch answered "no responders" is
// tried again, as one that timed out; three in a row end the list with an
// error, never a short list taken for the whole one.
func TestQueueListRidesOutNoResponders(t *testing.T) {
	for _, tt := range []struct {
		name    string
		fail    func(n int64) bool
		wantErr bool
	}{
		{"the first fetch", func(n int64) bool { return n == 1 }, false},
		{"the second and third", func(n int64) bool { return n == 2 || n == 3 }, false},
		{"every fetch after the first", func(n int64) bool { return n >= 2 }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, all := queueWith(t, [3]string{"acme", "a1", ReasonInvalid}, [3]string{"acme", "a2", ReasonInvalid},
				[3]string{"acme", "a3", ReasonExpired})
			q.stream, q.listBatch = natstest.NewNoResponders(q.stream, tt.fail), 1 // a fetch a letter
			got, err := q.List(context.Background(), Filter{})
			if tt.wantErr {
				if err == nil {
					t.Errorf("List: got %d dead letters and no error, want an error", len(got))
				}
				return
			}
			if err != nil || len(got) != len(all) {
				t.Errorf("List: got %d dead letters, error %v; want %d", len(got), err, len(all))
			}
		})
	}
}
