package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/servertime"
)

// TestReplicaWithAClockAheadWaitsForTheLease: another replica holds the
// submission's lease while its POST is in flight (the upstream commits it
// two seconds later). This replica's clock runs an hour ahead: judged on
// its own clock the lease has long ended, it would take over, find nothing
// yet and pay a second time. It judges leases on the server's time, waits
// for the lease to end, and adopts the other replica's request.
func TestReplicaWithAClockAheadWaitsForTheLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	fields := pipetest.ValidFields("Mario")
	req := iseeRequest(t, h, fields)
	req.CallbackData = h.Marker(pipetest.Tenant, "emp-skew")
	now := time.Now()
	h.PutRecord("emp-skew", fields, func(r *record.Record) {
		r.Created, r.Updated = now, now
		r.Pending = &record.Attempt{Started: now, Owner: "the-other-replica/1", Until: now.Add(4 * time.Second), Marked: true}
	})
	committed := make(chan error, 1)
	time.AfterFunc(2*time.Second, func() { // the other replica's POST lands
		_, err := h.Client.CreateRichiesta(ctx, req)
		committed <- err
	})
	clock := servertime.NewWithLocal(h.Res.Keys, time.Hour, func() time.Time { return time.Now().Add(time.Hour) })
	if err := clock.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.Now = clock.Now }))
	h.Publish(pipetest.Submission("emp-skew", fields), nil)
	r := h.WaitState("emp-skew", record.StateSubmitted)
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (the other replica's)", got)
	}
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POSTs: got %d, want only the other replica's", got)
	}
	if r.RequestID == "" {
		t.Errorf("record %+v: want the other replica's request adopted", r)
	}
}
