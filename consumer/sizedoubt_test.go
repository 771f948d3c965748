package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestSizeLimitLoweredUnderAPostInDoubt: a submission whose POST is in
// doubt (its worker killed, the request made upstream, the answer lost)
// is redelivered after the submissions stream's size limit was lowered
// under its message. The message was rejected as too large before its
// record was read: dead-lettered malformed and acknowledged, it left the
// record claimed with nothing to resume it, and the paid request was
// never found. A submission that exists is its record's to decide: it is
// reconciled and adopts its request.
func TestSizeLimitLoweredUnderAPostInDoubt(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := "emp-big-doubt"
	fields := pipetest.ValidFields("Mario")
	fields["$6"] = "cf.pdf|data:application/pdf;base64," + strings.Repeat("QUFB", 10<<10)

	req := iseeRequest(t, h, fields)
	req.CallbackData = h.Marker(pipetest.Tenant, id)
	earlier, err := h.Client.CreateRichiesta(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h.PutRecord(id, fields, func(r *record.Record) {
		r.Created, r.Updated = now.Add(-time.Minute), now.Add(-time.Minute)
		r.Attempts = 1
		r.Pending = &record.Attempt{Started: now.Add(-time.Minute), Owner: "killed/1", Until: now, Marked: true}
	})
	data := pipetest.Submission(id, fields)
	h.Publish(data, nil)

	cfg := h.Res.Submissions.CachedInfo().Config
	cfg.MaxMsgSize = int32(len(data) + 512) // the stream holds it; a submission may now be 512 bytes less than it
	if _, err := h.NATS.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Res.Submissions.Info(ctx); err != nil {
		t.Fatal(err)
	}
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.ReconcileSettle = time.Hour }))
	r := h.WaitState(id, record.StateSubmitted)
	if r.RequestID != earlier.ID {
		t.Errorf("request %q; want %q, the one the POST in doubt created", r.RequestID, earlier.ID)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters %+v; want none", dls)
	}
}
