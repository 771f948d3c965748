package record_test

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/record"
)

// TestReopenedAndTrackedStatus: the status event of a tracked state has
// the last replay's suffix once a replay reopened the record, and the
// record is Reopened while it is in the state a tracking replay put it in
// (an overdue note aside), never after a pipeline replay's new generation.
func TestReopenedAndTrackedStatus(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	rec := func(gen int, replays []record.Replay, states ...string) *record.Record {
		r := &record.Record{Tenant: "acme", ID: "emp-1", Generation: gen, RequestID: "r1", Replays: replays}
		for i, s := range states {
			if s == record.StateOverdue {
				r.Note(s, at(i), "")
				continue
			}
			r.To(s, at(i), "")
		}
		return r
	}
	tests := []struct {
		name     string
		r        *record.Record
		reopened bool
		id       string // TrackedStatus(submitted)'s EventID
	}{
		{"never replayed", rec(1, nil, record.StateClaimed, record.StateSubmitted), false, ""},
		{"reopened by tracking in submitted", rec(1, []record.Replay{{Seq: 7, At: at(3)}},
			record.StateClaimed, record.StateSubmitted, record.StateFailed, record.StateSubmitted), true, "acme.emp-1.1.submitted.r7"},
		{"reopened in in_progress, then overdue", rec(1, []record.Replay{{Seq: 7, At: at(3)}},
			record.StateSubmitted, record.StateInProgress, record.StateFailed, record.StateInProgress, record.StateOverdue), true, "acme.emp-1.1.submitted.r7"},
		{"reopened, then moved on", rec(1, []record.Replay{{Seq: 7, At: at(2)}},
			record.StateSubmitted, record.StateFailed, record.StateSubmitted, record.StateInProgress), false, "acme.emp-1.1.submitted.r7"},
		{"a pipeline replay's generation", rec(2, []record.Replay{{Seq: 4, At: at(1)}},
			record.StateFailed, record.StateClaimed, record.StateSubmitted), false, "acme.emp-1.2.submitted.r4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Reopened(); got != tt.reopened {
				t.Errorf("Reopened: got %v, want %v", got, tt.reopened)
			}
			s := tt.r.TrackedStatus(record.StateSubmitted)
			if s.EventID != tt.id {
				t.Errorf("TrackedStatus id: got %q, want %q", s.EventID, tt.id)
			}
			if s.State != record.StateSubmitted || s.Generation != tt.r.Generation || s.RequestID != "r1" {
				t.Errorf("TrackedStatus: got %+v, want the record's submitted status", s)
			}
		})
	}
}
