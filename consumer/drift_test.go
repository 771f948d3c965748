package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// A submission claimed (and maybe sent) under an older, looser schema that
// no longer validates cannot be reconciled: it fails as ambiguous, and
// nothing is sent.
func TestClaimedSubmissionThatNoLongerValidates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	data := driftedClaim(t, h)
	h.Start()
	h.Publish(data, nil)
	r := h.WaitState("emp-drift", record.StateFailed)
	if r.Reason != dlq.ReasonAmbiguous || r.Pending == nil {
		t.Errorf("record: reason %q, pending %v; want ambiguous with the pending attempt kept", r.Reason, r.Pending)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
}

// driftedClaim stores the record of emp-drift as a worker that crashed
// during its POST left it, an hour ago, and returns the submission, which
// today's schema no longer accepts ($6 is required now).
func driftedClaim(t *testing.T, h *harness) []byte {
	t.Helper()
	fields := pipetest.ValidFields("Mario")
	delete(fields, "$6") // required by today's schema
	data := pipetest.Submission("emp-drift", fields)
	sub, err := consumer.DecodeSubmission(data)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	rec := &record.Record{Tenant: pipetest.Tenant, ID: "emp-drift", Fingerprint: sub.Fingerprint(), Generation: 1,
		State: record.StateClaimed, Attempts: 1, Created: past, Updated: past,
		Pending: &record.Attempt{Started: past, Owner: "crashed-worker", Until: past.Add(time.Minute)}}
	b, _ := json.Marshal(rec)
	if _, err := h.Res.Records.Create(context.Background(), record.Key(pipetest.Tenant, "emp-drift"), b); err != nil {
		t.Fatal(err)
	}
	return data
}
