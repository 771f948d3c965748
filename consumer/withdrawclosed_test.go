package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// withdrawnEvent waits for the event announcing that submission id was
// withdrawn after it was rejected or failed (publisher.WithdrawnEventID)
// and returns its data.
func (h *harness) withdrawnEvent(id string, generation int) publisher.Status {
	h.T.Helper()
	want := publisher.WithdrawnEventID(pipetest.Tenant, id, generation)
	var st publisher.Status
	pipetest.WaitFor(h.T, 20*time.Second, "the event of "+id+"'s withdrawal", func() bool {
		for _, ev := range h.Events(id) {
			if ev.ID == want {
				if err := json.Unmarshal(ev.Data, &st); err != nil {
					h.T.Fatal(err)
				}
				return true
			}
		}
		return false
	})
	return st
}

// failedWithNothingSent starts a pipeline whose first POST the upstream
// refuses (412) and publishes submission id, which fails with nothing
// sent; it returns the harness and the submission's one dead letter.
func failedWithNothingSent(t *testing.T, id string) (*harness, []dlq.DeadLetter) {
	t.Helper()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1, Status: 412}}})
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.WithdrawWait = time.Second }))
	h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
	h.WaitState(id, record.StateFailed)
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	return h, dls
}

// TestWithdrawnFailedSubmissionIsReplayedOnlyWhenTheTenantAsks: a
// submission fails with nothing sent (the upstream refused its POST: 412);
// its producer withdraws it. The withdrawal is taken, not refused: the
// record is marked as its producer's (failed as it was), and the producer
// gets its failed event again with reason withdrawn. An operator's replay
// of its dead letter is then refused, as a withdrawn letter's is
// (dlq.Queue.CheckReopen, what iseed dlq replay and the console ask), and
// nothing is POSTed; overridden because the tenant asks (dlq.TenantAsked,
// --tenant-asked), it is sent, marked so. A rejected submission's withdrawal is taken
// alike, with its rejected event.
func TestWithdrawnFailedSubmissionIsReplayedOnlyWhenTheTenantAsks(t *testing.T) {
	t.Parallel()
	h, dls := failedWithNothingSent(t, "emp-w")
	ctx := context.Background()
	posts := h.Counter("POST /richiesta")

	h.Publish(withdrawal("emp-w"), nil)
	st := h.withdrawnEvent("emp-w", 1)
	if st.State != record.StateFailed || st.Reason != dlq.ReasonWithdrawn || len(st.Errors) != 1 || st.Errors[0].Code != dlq.ReasonWithdrawn {
		t.Errorf("the withdrawal's event %+v; want failed, reason withdrawn, one problem saying so", st)
	}
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if ns := h.notices(pipetest.Tenant, "emp-w"); len(ns) != 0 {
		t.Errorf("withdrawal_refused notices %+v; want none: the withdrawal is taken", ns)
	}
	r := h.Record("emp-w")
	if r.State != record.StateFailed || r.Reason != dlq.ReasonUpstreamRejected || r.CancelledBy != record.CancelledByTenant || r.CancelRequested.IsZero() {
		t.Fatalf("record: %s (%s), cancelled by %q at %s; want failed upstream_rejected, withdrawn by its producer", r.State, r.Reason, r.CancelledBy, r.CancelRequested)
	}

	// The operator replays it, as the runbook says for upstream_rejected.
	l, err := h.Queue().Get(ctx, dls[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	refused, err := h.Queue().CheckReopen(ctx, l.DeadLetter, consumer.LetterFingerprint(l.Payload), r)
	if err != nil {
		t.Fatal(err)
	}
	var re *dlq.RefusedError
	if !errors.As(refused, &re) || !re.Withdrawn {
		t.Fatalf("the replay check: %v; want a refusal, the producer withdrew it", refused)
	}
	if got := h.Counter("POST /richiesta"); got != posts {
		t.Errorf("POSTs after the refused replay: %d, want %d", got, posts)
	}

	// The tenant asks: the override lets it through, and it is sent.
	if err := dlq.TenantAsked(refused); err != nil {
		t.Fatalf("TenantAsked: %v; want the refusal overridden", err)
	}
	if err := h.Queue().ReplayAs(ctx, dls[0].Seq, dlq.ReplayOptions{TenantAsked: true}); err != nil {
		t.Fatal(err)
	}
	r = h.WaitState("emp-w", record.StateSubmitted)
	if !r.CancelRequested.IsZero() || r.CancelledBy != "" {
		t.Errorf("record after the replay: cancelled by %q at %s; want the withdrawal cleared (sent after all)", r.CancelledBy, r.CancelRequested)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: %d, want 1", got)
	}

	h.Publish(pipetest.Submission("emp-bad", map[string]any{"Nome": "Anna"}), nil)
	h.WaitState("emp-bad", record.StateRejected)
	h.Publish(withdrawal("emp-bad"), nil)
	if st := h.withdrawnEvent("emp-bad", 1); st.State != record.StateRejected || st.Reason != dlq.ReasonWithdrawn {
		t.Errorf("the rejected submission's withdrawal: %+v; want its rejected event, reason withdrawn", st)
	}
	if r := h.Record("emp-bad"); !r.WithdrawnClosed() {
		t.Errorf("emp-bad: %s, cancelled by %q at %s; want it marked withdrawn", r.State, r.CancelledBy, r.CancelRequested)
	}
}

// TestWithdrawalBeforeAReplayIsDeliveredWins: an operator's replay check
// passes (the submission failed with nothing sent, its producer had not
// withdrawn it), then the producer withdraws it, then the replay is
// published, as iseed dlq replay does after its check. The pipeline
// checks again: the replay, not marked as the tenant's asking, reopens
// nothing and POSTs nothing; it fails again with a dead letter of its own,
// the record as the withdrawal left it. That letter's replay marked
// dlq.TenantAskedHeader (--tenant-asked) is sent, once.
func TestWithdrawalBeforeAReplayIsDeliveredWins(t *testing.T) {
	t.Parallel()
	h, dls := failedWithNothingSent(t, "emp-r")
	ctx := context.Background()
	l, err := h.Queue().Get(ctx, dls[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	if refused, err := h.Queue().CheckReopen(ctx, l.DeadLetter, consumer.LetterFingerprint(l.Payload), h.Record("emp-r")); err != nil || refused != nil {
		t.Fatalf("the replay check before the withdrawal: %v, %v; want it passed", refused, err)
	}
	posts := h.Counter("POST /richiesta")

	h.Publish(withdrawal("emp-r"), nil)
	h.withdrawnEvent("emp-r", 1)
	if err := h.Queue().Replay(ctx, dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	var again []dlq.DeadLetter
	pipetest.WaitFor(t, 20*time.Second, "the refused replay's dead letter", func() bool {
		again = h.DeadLetters()
		return len(again) == 1 && again[0].Seq != dls[0].Seq
	})
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if got := h.Counter("POST /richiesta"); got != posts {
		t.Errorf("POSTs after a replay of a withdrawn submission: %d, want %d: sent against its producer's wish", got, posts)
	}
	r := h.Record("emp-r")
	if !r.WithdrawnClosed() || r.Generation != 1 || len(r.Replays) != 0 {
		t.Errorf("record after the refused replay: %s (%s), generation %d, replays %v, cancelled by %q; want it failed, withdrawn, not reopened",
			r.State, r.Reason, r.Generation, r.Replays, r.CancelledBy)
	}

	if err := h.Queue().ReplayAs(ctx, again[0].Seq, dlq.ReplayOptions{TenantAsked: true}); err != nil {
		t.Fatal(err)
	}
	h.WaitState("emp-r", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: %d, want 1", got)
	}
}
