package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTrackSubjectHeldByAForeignMessage: a message that is not the task on
// a submission's tracking subject does not stand in for its task. Any
// client that may publish in the account can put one there, through a
// reply subject (a tenant publishing its own submission with the reply
// subject iseed.track.<other tenant>.<id> makes JetStream store its
// acknowledgement there: docs/security.md). Before, Track took whatever
// held the subject for the task, the tracker then terminated it as
// malformed, and the request, charged, was never followed.
func TestTrackSubjectHeldByAForeignMessage(t *testing.T) {
	h := newTrackHarness(t, fastTracking(100*time.Millisecond))
	tr := h.newTracker(nil)
	ctx := context.Background()
	subject := h.Res.Layout.TrackSubject(pipetest.Tenant, "emp-held")
	if _, err := h.NATS.JS.Publish(ctx, subject, []byte(`{"stream":"ISEED_SUBMISSIONS","seq":7}`)); err != nil {
		t.Fatal(err)
	}
	h.startPipeline(tr, false) // the tracker is not running yet: the foreign message stays
	h.Publish(pipetest.Submission("emp-held", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the submission's tracking task on its subject", func() bool {
		m, err := h.Res.Track.GetLastMsgForSubject(ctx, subject)
		var task struct {
			ID        string `json:"id"`
			RequestID string `json:"request_id"`
		}
		return err == nil && json.Unmarshal(m.Data, &task) == nil && task.ID == "emp-held" && task.RequestID != ""
	})
	h.runTracker(tr)
	if r := h.waitClosed("emp-held", 20*time.Second); r.State != record.StateCompleted || r.Document == nil {
		t.Fatalf("record: got state %q, document %v; want completed with its document", r.State, r.Document != nil)
	}
}

// TestTaskWithoutARecordEnds: a well-formed tracking task for a submission
// that has no record (forged: anyone who may publish in the account can put
// one there), naming a submission more than an hour old, is ended once the
// records bucket's leader confirms there is none, instead of being retried
// for the maximum age (60 days), a warning each time; the submission,
// submitted later, is tracked as usual. (A fresh one is polled on:
// TestTrackRecordNotYetReadable.)
func TestTaskWithoutARecordEnds(t *testing.T) {
	h := newTrackHarness(t, fastTracking(100*time.Millisecond))
	tr := h.newTracker(nil)
	h.runTracker(tr)
	ctx := context.Background()
	subject := h.Res.Layout.TrackSubject(pipetest.Tenant, "emp-ghost")
	forged := `{"tenant":"` + pipetest.Tenant + `","id":"emp-ghost","generation":1,"request_id":"6b0eaba21dcdaf0000000001","service":"ISEE","submitted":"2026-01-12T08:00:00Z"}`
	if _, err := h.NATS.JS.Publish(ctx, subject, []byte(forged)); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "the forged task to be ended", func() bool {
		_, err := h.Res.Track.GetLastMsgForSubject(ctx, subject)
		return errors.Is(err, jetstream.ErrMsgNotFound)
	})
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-ghost", pipetest.ValidFields("Mario")), nil)
	if r := h.waitClosed("emp-ghost", 20*time.Second); r.State != record.StateCompleted || r.Document == nil {
		t.Fatalf("record: got state %q, document %v; want completed with its document", r.State, r.Document != nil)
	}
}

// TestTrackSubjectFreedWhileTrackRemovesIt: the foreign message on a
// submission's tracking subject is gone by the time Track removes it (the
// tracker, fetching it meanwhile, terminated it as malformed, which
// removes it from the work queue). The server answers that delete with a
// generic failure ("no message found", 10057), not
// jetstream.ErrMsgNotFound; Track must store the task all the same, not
// fail the submission's finish and have it delivered again.
func TestTrackSubjectFreedWhileTrackRemovesIt(t *testing.T) {
	h := newTrackHarness(t, fastTracking(100*time.Millisecond))
	ctx := context.Background()
	subject := h.Res.Layout.TrackSubject(pipetest.Tenant, "emp-freed")
	if _, err := h.NATS.JS.Publish(ctx, subject, []byte(`{"stream":"ISEED_SUBMISSIONS","seq":7}`)); err != nil {
		t.Fatal(err)
	}
	h.Res.Track = &removedFirst{Stream: h.Res.Track}
	tr := h.newTracker(nil)
	r := &record.Record{Tenant: pipetest.Tenant, ID: "emp-freed", Generation: 1, State: record.StateSubmitted,
		Service: "ISEE", RequestID: "6b0eaba21dcdaf0000000002", Created: time.Now()}
	if err := tr.Track(ctx, r); err != nil {
		t.Fatalf("Track: got %v, want nil: the foreign message is gone, the task stored", err)
	}
	m, err := h.Res.Track.GetLastMsgForSubject(ctx, subject)
	var task struct {
		ID        string `json:"id"`
		RequestID string `json:"request_id"`
	}
	if err != nil || json.Unmarshal(m.Data, &task) != nil || task.ID != r.ID || task.RequestID != r.RequestID {
		t.Fatalf("the subject's message: got %v (%v), want the task of %s", m, err, r.ID)
	}
}

// removedFirst is the tracking stream where every message is removed by
// someone else just before DeleteMsg removes it.
type removedFirst struct{ jetstream.Stream }

func (s *removedFirst) DeleteMsg(ctx context.Context, seq uint64) error {
	if err := s.Stream.DeleteMsg(ctx, seq); err != nil {
		return err
	}
	return s.Stream.DeleteMsg(ctx, seq)
}
