package dlq

import (
	"context"
	"testing"
	"time"

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

// TestQueueListOfNothingFetchesNothing: a filter no letter matches by
// subject (another tenant) or by time (since after the last) is an empty
// list without a fetch: every fetch here is answered "no responders".
func TestQueueListOfNothingFetchesNothing(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "a1", ReasonInvalid})
	q.stream = natstest.NewNoResponders(q.stream, func(int64) bool { return true })
	for _, f := range []Filter{{Tenant: "initech"}, {Since: all[0].Stored.Add(time.Second)}} {
		if got, err := q.List(context.Background(), f); err != nil || len(got) != 0 {
			t.Errorf("List(%+v): got %d letters, error %v; want none and no fetch", f, len(got), err)
		}
	}
}
