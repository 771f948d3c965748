package consumer

import (
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MinDelay: time.Second, MaxDelay: time.Minute, Interrupted: 2 * time.Second}
	ev := &publisher.Status{State: "submitted"}
	tests := []struct {
		name      string
		o         Outcome
		delivered uint64
		want      Action
	}{
		{"submitted: publish and ack", Outcome{Kind: Done, Event: ev}, 1, Action{Publish: true, Ack: true}},
		{"settled earlier, nothing to announce", Outcome{Kind: Done}, 3, Action{Ack: true}},
		{"invalid: dead letter, announce, term", Outcome{Kind: Rejected, Reason: dlq.ReasonInvalid, Event: ev}, 1, Action{DeadLetter: true, Publish: true, Term: true}},
		{"malformed: dead letter, term, no event", Outcome{Kind: Rejected, Reason: dlq.ReasonMalformed}, 1, Action{DeadLetter: true, Term: true}},
		{"conflict: dead letter, announce, term", Outcome{Kind: Conflict, Reason: dlq.ReasonConflict, Event: ev}, 1, Action{DeadLetter: true, Publish: true, Term: true}},
		{"permanent upstream error", Outcome{Kind: Failed, Reason: dlq.ReasonUpstreamRejected, Event: ev}, 1, Action{DeadLetter: true, Publish: true, Term: true}},
		{"insufficient credit", Outcome{Kind: Failed, Reason: dlq.ReasonInsufficientCredit, Event: ev}, 2, Action{DeadLetter: true, Publish: true, Term: true}},
		{"ambiguous", Outcome{Kind: Failed, Reason: dlq.ReasonAmbiguous, Event: ev}, 1, Action{DeadLetter: true, Publish: true, Term: true}},
		{"retry, first delivery", Outcome{Kind: Retry, Err: errors.New("503")}, 1, Action{Nak: true, Delay: time.Second}},
		{"retry grows", Outcome{Kind: Retry}, 4, Action{Nak: true, Delay: 8 * time.Second}},
		{"retry is capped", Outcome{Kind: Retry}, 40, Action{Nak: true, Delay: time.Minute}},
		{"retry honours Retry-After", Outcome{Kind: Retry, Delay: 30 * time.Second}, 1, Action{Nak: true, Delay: 30 * time.Second}},
		{"busy looks again soon", Outcome{Kind: Busy, Delay: 50 * time.Second}, 1, Action{Nak: true, Delay: time.Second}},
		{"busy backs off", Outcome{Kind: Busy, Delay: 50 * time.Second}, 3, Action{Nak: true, Delay: 4 * time.Second}},
		{"busy never past the lease", Outcome{Kind: Busy, Delay: 3 * time.Second}, 5, Action{Nak: true, Delay: 3 * time.Second}},
		{"busy at least the minimum", Outcome{Kind: Busy}, 1, Action{Nak: true, Delay: time.Second}},
		{"interrupted: hand back soon", Outcome{Kind: Interrupted}, 7, Action{Nak: true, Delay: 2 * time.Second}},
		{"unknown kind never loses the message", Outcome{}, 1, Action{Nak: true, Delay: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.o, tt.delivered, p, 0.5) // jitter 0.5: factor 1.0
			if got != tt.want {
				t.Errorf("Decide: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRetryDelayJitter(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MinDelay: 10 * time.Second, MaxDelay: time.Minute}.withDefaults()
	lo, hi := retryDelay(1, p, 0), retryDelay(1, p, 0.999)
	if lo != 8*time.Second || hi < 11*time.Second || hi > 12*time.Second {
		t.Errorf("jitter range: got [%s, %s], want [8s, ~12s]", lo, hi)
	}
}
