package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// TestReleaseGoneBeforePickUpIsSentAgain: a held submission's release is
// stored, then leaves the submissions stream before a delivery picks it
// up (deleted by an operator, by a quota lowered under it, aged out). The
// hold key kept its revision, so every later pass sent the same message
// id, which the stream took for a duplicate and did not store for its
// whole duplicate window (24 h by default, a minute here): the submission
// stayed held, and its tenant's next hold waited behind it. A release the
// stream answers as a duplicate of a message it no longer has is sent
// again under a new id; two replicas doing so at once store it once, the
// tenant's next hold goes after it, and each is sent once.
func TestReleaseGoneBeforePickUpIsSentAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	var regs []*prometheus.Registry
	for range 2 { // two replicas release the hold
		reg := prometheus.NewRegistry()
		regs = append(regs, reg)
		h.Start(h.withMoney(h.budgets()), pipetest.WithMetrics(consumer.NewMetrics(reg)),
			pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	}
	lost := pipetest.Submission("emp-lost", pipetest.ValidFields("Mario"))
	h.Publish(lost, nil)
	h.WaitState("emp-lost", record.StateHeld)
	h.Publish(pipetest.Submission("emp-behind", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-behind", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })

	// A delivery elsewhere has emp-lost (a live lease): its release is
	// stored, and not picked up.
	setPending(t, h, "emp-lost", &record.Attempt{Started: time.Now(), Owner: "stalled-elsewhere", Until: time.Now().Add(time.Hour)})
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	subject := h.Res.Layout.SubmissionSubject(pipetest.Tenant)
	var release *jetstream.RawStreamMsg
	pipetest.WaitFor(t, 10*time.Second, "emp-lost's release", func() bool {
		m, err := h.Res.Submissions.GetLastMsgForSubject(ctx, subject)
		// A release has the submission's message id and a suffix
		// (publisher.RepublishMsgID).
		if err == nil && strings.HasPrefix(m.Header.Get(jetstream.MsgIDHeader), msgIDOf(pipetest.Tenant, lost)+".") {
			release = m
		}
		return release != nil
	})
	// Its delivery finds the lease and hands it back for the lease's hour
	// (busy): deleted while a worker still has it in hand, it would be
	// processed once the lease goes, and no release would be sent again.
	pipetest.WaitFor(t, 10*time.Second, "emp-lost's release delivered and handed back", func() bool {
		return outcomes(t, regs[0], "busy")+outcomes(t, regs[1], "busy") > 0
	})
	// It leaves the stream; then the stalled delivery lets go.
	if err := h.Res.Submissions.DeleteMsg(ctx, release.Sequence); err != nil {
		t.Fatal(err)
	}
	setPending(t, h, "emp-lost", nil)

	for _, id := range []string{"emp-lost", "emp-behind"} {
		var r *record.Record
		pipetest.WaitExplained(t, 20*time.Second, id+" to be released again and submitted", func() bool {
			r = h.Record(id)
			return r.State == record.StateSubmitted
		}, func() string {
			return fmt.Sprintf("state %s, %d messages on the tenant's subject", r.State, messages(t, h, pipetest.Tenant))
		})
		if r.Attempts != 1 {
			t.Errorf("%s: got %d attempts, want 1", id, r.Attempts)
		}
	}
	// The two submissions, emp-lost's second release, emp-behind's release.
	if n := messages(t, h, pipetest.Tenant); n != 4 {
		t.Errorf("messages on the tenant's subject: got %d, want 4 (emp-lost's second release stored once); the stream holds %v", n, msgIDs(t, h))
	}
	if got := h.Counter("created"); got != 2 {
		t.Errorf("upstream requests: got %d, want 2", got)
	}
}

// setPending sets the pending attempt of the test tenant's record of
// submission id (nil: none), as a delivery taking it over or letting it
// go writes it.
func setPending(t *testing.T, h *harness, id string, a *record.Attempt) {
	t.Helper()
	ctx := context.Background()
	store := record.NewStore(h.Res.Records)
	for {
		rec, rev, err := store.Get(ctx, pipetest.Tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		rec.Pending = a
		_, err = store.Update(ctx, rec, rev)
		if !errors.Is(err, record.ErrRevision) {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// msgIDs lists the submissions stream's messages as "seq:msg-id".
func msgIDs(t *testing.T, h *harness) []string {
	t.Helper()
	ctx := context.Background()
	info, err := h.Res.Submissions.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := h.Res.Submissions.GetMsg(ctx, seq)
		if err != nil {
			ids = append(ids, fmt.Sprintf("%d:(%v)", seq, err))
			continue
		}
		ids = append(ids, fmt.Sprintf("%d:%s", seq, m.Header.Get(jetstream.MsgIDHeader)))
	}
	return ids
}
