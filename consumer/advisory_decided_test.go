package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// deadLetterRefusedOnce refuses the first dead letter when armed.
type deadLetterRefusedOnce struct {
	jetstream.JetStream
	fault
}

func (r *deadLetterRefusedOnce) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if m.Header.Get(dlq.HeaderReason) != "" && r.take() {
		return nil, errors.New("dead-letter stream refuses the message")
	}
	return r.JetStream.PublishMsg(ctx, m, opts...)
}

// TestMaxDeliveriesOfADecidedSubmission: the last delivery decided the
// submission (rejected it, or found it failed ambiguous), and then could not
// finish: its event refused, or its dead letter refused or stored with the
// reply lost. The message is naked and exhausts its deliveries, so the
// max-deliveries advisory is what is left: it must finish that decision
// (the record's own dead letter, stored once, and its own event), not
// dead-letter it a second time under max_deliveries, without its event.
func TestMaxDeliveriesOfADecidedSubmission(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  string // "event", "refused", "reply lost"
		state  string
		reason string // the dead letter's, and a failed record's
	}{
		{"rejected, its event refused", "event", record.StateRejected, dlq.ReasonInvalid},
		{"failed ambiguous, its dead letter refused", "refused", record.StateFailed, dlq.ReasonAmbiguous},
		{"failed ambiguous, its dead letter's reply lost", "reply lost", record.StateFailed, dlq.ReasonAmbiguous},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.withMaxDeliver(1)
			fields := pipetest.ValidFields("Mario")
			if tc.state == record.StateRejected {
				delete(fields, "$1")
			} else {
				past := time.Now().Add(-time.Minute)
				h.PutRecord("emp-dec", fields, func(r *record.Record) {
					r.Created, r.Updated = past, past
					r.To(record.StateFailed, past, tc.reason)
					r.Reason = tc.reason
					r.Errors = []publisher.Problem{{Code: tc.reason, Message: "an earlier attempt may have created the request"}}
					r.Pending = &record.Attempt{Started: past, Owner: "gone", Until: past.Add(time.Second)}
				})
			}
			ev := &flakyEvents{state: tc.state}
			refused, lost := &deadLetterRefusedOnce{}, &deadLetterReplyLost{}
			faults := map[string]*fault{"event": &ev.fault, "refused": &refused.fault, "reply lost": &lost.fault}
			faults[tc.fault].armed.Store(true)
			h.Start(pipetest.WithDeps(func(d *consumer.Deps) {
				ev.Events = d.Events
				refused.JetStream = d.Publisher
				lost.JetStream = refused
				d.Events, d.Publisher = ev, lost
			}))
			h.Publish(pipetest.Submission("emp-dec", fields), nil)
			pipetest.WaitExplained(t, 30*time.Second, "the advisory handled", h.advisoriesSettled, func() string {
				return fmt.Sprintf("events %v; dead letters %+v", h.EventTypes("emp-dec"), h.DeadLetters())
			})
			if !faults[tc.fault].fired.Load() {
				t.Fatalf("%s: the fault never fired", tc.fault)
			}
			r := h.Record("emp-dec")
			if r.State != tc.state || (tc.state == record.StateFailed && r.Reason != tc.reason) {
				t.Errorf("record: got %s/%s, want %s (%s)", r.State, r.Reason, tc.state, tc.reason)
			}
			var reasons []string
			for _, dl := range h.DeadLetters() {
				reasons = append(reasons, dl.Reason)
			}
			if len(reasons) != 1 || reasons[0] != tc.reason {
				t.Errorf("dead letters: got reasons %v, want one, %s", reasons, tc.reason)
			}
			typ := publisher.StatusType(tc.state)
			if got := count(h.EventTypes("emp-dec"), typ); got != 1 {
				t.Errorf("%s events: got %d (%v), want 1", typ, got, h.EventTypes("emp-dec"))
			}
			if got := h.Counter("POST /richiesta"); got != 0 {
				t.Errorf("POSTs: got %d, want 0", got)
			}
		})
	}
}
