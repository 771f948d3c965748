package tracking

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/record"
)

// TestAdoptedFromTheSubmittedTransition: a task says adopted when the
// record's latest submitted transition has a note (its request recorded
// from a read after the POST), not when an earlier generation's had one.
func TestAdoptedFromTheSubmittedTransition(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	submitted := func(note string) record.Transition {
		return record.Transition{State: record.StateSubmitted, At: at, Note: note}
	}
	claimed := record.Transition{State: record.StateClaimed, At: at}
	for _, tt := range []struct {
		name     string
		timeline []record.Transition
		want     bool
	}{
		{"the POST's answer", []record.Transition{claimed, submitted("")}, false},
		{"an earlier POST's answer, kept", []record.Transition{claimed, submitted("answered")}, true},
		{"reconciliation", []record.Transition{claimed, submitted("reconciled")}, true},
		{"reconciliation, kept", []record.Transition{claimed, submitted("reconciled, kept")}, true},
		{"a replay posted anew", []record.Transition{claimed, submitted("reconciled"), {State: record.StateFailed, At: at}, claimed, submitted("")}, false},
		{"a replay adopted", []record.Transition{claimed, submitted(""), {State: record.StateFailed, At: at}, claimed, submitted("reconciled")}, true},
		{"not submitted", []record.Transition{claimed}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := adopted(&record.Record{Timeline: tt.timeline}); got != tt.want {
				t.Errorf("adopted: %v, want %v", got, tt.want)
			}
		})
	}
}
