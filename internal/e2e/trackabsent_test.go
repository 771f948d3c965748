package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestTrackRecordNotYetReadable: a tracking task whose record the read does
// not find is polled again, never dropped. A KV get is a direct get that
// any replica answers, and a replica cut off from the others (or catching
// up after a restart) says "no such key" for a record the majority holds;
// the chaos suite saw tracking dropped that way, the request charged and
// its document never fetched. Once the record reads again, the request
// runs to its document.
func TestTrackRecordNotYetReadable(t *testing.T) {
	h := newTrackHarness(t, fastTracking(100*time.Millisecond))
	tr := h.newTracker(nil)
	h.startPipeline(tr, false) // the tracker itself is not running yet
	h.Publish(pipetest.Submission("emp-absent", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the submission's request and tracking task", func() bool {
		r := h.Record("emp-absent")
		return r != nil && r.RequestID != "" && h.openTasks() == 1
	})
	ctx := context.Background()
	key := record.Key(pipetest.Tenant, "emp-absent")
	saved, err := h.Res.Records.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Res.Records.Purge(ctx, key); err != nil { // what a lagging replica shows
		t.Fatal(err)
	}
	h.runTracker(tr)
	pipetest.WaitFor(t, 10*time.Second, "two polls without the record", func() bool {
		info, err := h.Res.Tracker.Info(ctx)
		return err == nil && info.Delivered.Consumer >= 3 // the first delivery only waits
	})
	if got := h.openTasks(); got != 1 {
		t.Fatalf("open tracking tasks while the record is unreadable: got %d, want 1", got)
	}
	if _, err := h.Res.Records.Put(ctx, key, saved.Value()); err != nil {
		t.Fatal(err)
	}
	if r := h.waitClosed("emp-absent", 20*time.Second); r.State != record.StateCompleted || r.Document == nil {
		t.Fatalf("record: got state %q, document %v; want completed with its document", r.State, r.Document != nil)
	}
}
