package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
)

// A submission claimed (and maybe sent) under an older, looser schema that
// no longer validates cannot be reconciled: it fails as ambiguous, and
// nothing is sent.
func TestClaimedSubmissionThatNoLongerValidates(t *testing.T) {
	h := newHarness(t)
	fields := validFields("Mario")
	delete(fields, "$6") // required by today's schema
	data := submission("emp-drift", fields)
	sub, err := consumer.DecodeSubmission(data)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	rec := &consumer.Record{Tenant: tenant, ID: "emp-drift", Fingerprint: sub.Fingerprint(), Generation: 1,
		State: consumer.StateClaimed, Attempts: 1, Created: past, Updated: past,
		Pending: &consumer.Attempt{Started: past, Owner: "crashed-worker", Until: past.Add(time.Minute)}}
	b, _ := json.Marshal(rec)
	if _, err := h.res.Records.Create(context.Background(), consumer.RecordKey(tenant, "emp-drift"), b); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.publish(data, nil)
	r := h.waitState("emp-drift", consumer.StateFailed)
	if r.Reason != consumer.ReasonAmbiguous || r.Pending == nil {
		t.Errorf("record: reason %q, pending %v; want ambiguous with the pending attempt kept", r.Reason, r.Pending)
	}
	if got := h.counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
}
