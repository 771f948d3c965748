package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestDocumentsBucketDeletedWhileRunning: an operator who deletes a
// tenant's documents bucket while iseed runs (its documents erased at
// once, rather than at ISEED_DOCUMENT_TTL) must not stop the tracker from
// storing that tenant's later documents: they go to the bucket made again,
// as on first use.
func TestDocumentsBucketDeletedWhileRunning(t *testing.T) {
	h := newTrackHarness(t, fastTracking(100*time.Millisecond))
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-before", pipetest.ValidFields("Mario")), nil)
	h.waitClosed("emp-before", 20*time.Second)
	ctx := context.Background()
	if err := h.NATS.JS.DeleteObjectStore(ctx, h.Res.Layout.TenantDocumentsBucket(pipetest.Tenant)); err != nil {
		t.Fatal(err)
	}
	h.Publish(pipetest.Submission("emp-after", pipetest.ValidFields("Luigi")), nil)
	r := h.waitClosed("emp-after", 20*time.Second)
	if r.State != record.StateCompleted {
		t.Fatalf("state: got %q, want %q", r.State, record.StateCompleted)
	}
	h.checkDocument(r, nil)
}
