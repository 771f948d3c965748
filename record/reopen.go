package record

import "github.com/iseed-dev/iseed/publisher"

// TrackedStatus is the status event of state as tracking announces it
// (docs/tracking.md): Status's, with the id
// publisher.StatusAfterReplayEventID gives it once a replay reopened the
// record (the last replay's sequence). Tracking reopens a give-up in the
// same generation, whose states went out with their plain ids before it.
// A replay that started a new generation (the pipeline's) counts too,
// harmlessly: that generation's ids are its own anyway.
func (r *Record) TrackedStatus(state string) *publisher.Status {
	s := r.Status(state)
	if n := len(r.Replays); n > 0 {
		s.EventID = publisher.StatusAfterReplayEventID(r.Tenant, r.ID, r.Generation, state, r.Replays[n-1].Seq)
	}
	return s
}

// Reopened reports whether the record is in the state a tracking replay
// reopened it in: its last state entry (overdue aside) is the one its last
// replay added, a tracked one (submitted, in_progress, data_ready). A
// replay that started a new generation (the pipeline's) enters claimed or
// rejected. Tracking announced that state with TrackedStatus.
func (r *Record) Reopened() bool {
	if len(r.Replays) == 0 {
		return false
	}
	at := r.LastReplay()
	for i := len(r.Timeline) - 1; i >= 0; i-- {
		tr := r.Timeline[i]
		if tr.State == StateOverdue {
			continue
		}
		return tr.At.Equal(at) && tr.State == r.State && tracked(tr.State)
	}
	return false
}

// tracked reports whether state is one tracking follows a request in.
func tracked(state string) bool {
	return state == StateSubmitted || state == StateInProgress || state == StateDataReady
}
