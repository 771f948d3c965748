package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
)

// keptAnswer creates the upstream request a POST of Submission(id,
// ValidFields("Mario")) made (with its option) and stores the record an
// earlier delivery left when the request index refused its id: claimed,
// the id kept in the pending attempt, the lease over. It returns the id.
func keptAnswer(t *testing.T, h *harness, id string) string {
	t.Helper()
	ctx := context.Background()
	svc, err := h.Schemas().Service(ctx, "ISEE")
	if err != nil {
		t.Fatal(err)
	}
	fields := pipetest.ValidFields("Mario")
	prep, err := svc.Validate(schema.Input{Fields: fields, Options: []string{"urgenza"}}, schema.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Client.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: prep.HashVisura, JSONVisura: prep.JSONVisura, Opzioni: prep.Opzioni})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	h.PutRecord(id, fields, func(rec *record.Record) {
		rec.Service, rec.ServiceHash, rec.Created, rec.Updated = svc.Name, svc.Hash, past, past
		rec.Pending = &record.Attempt{Started: past, Owner: "gone", Until: past.Add(time.Second), Answered: r.ID}
	})
	return r.ID
}

// TestAdoptedAnsweredRequestIsChargedItsOptions: a kept id is adopted
// "whatever the schema says now" (answeredBefore). When the payload no
// longer validates (a limit lowered since, the catalog changed), the
// delivery has no prepared input: the charge must still name the option
// the request was created with, or the record and the ledger enter less
// than was paid.
func TestAdoptedAnsweredRequestIsChargedItsOptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := keptAnswer(t, h, "emp-opt")
	h.Start(pipetest.WithConfig(func(c *consumer.Config) {
		c.Callback = nil
		c.Limits.MaxTextLen = 3 // lowered since the POST: "Mario" no longer fits
	}))
	h.Publish(pipetest.Submission("emp-opt", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-opt", record.StateSubmitted)
	if r.RequestID != id || h.Counter("POST /richiesta") != 1 {
		t.Fatalf("request %q, POSTs %d; want %s adopted, 1 POST (the test's)", r.RequestID, h.Counter("POST /richiesta"), id)
	}
	if r.Charge == nil || len(r.Charge.Options) != 1 || r.Charge.Total <= r.Charge.ServicePrice+r.Charge.SearchPrice {
		t.Errorf("charge of the adopted request: %+v; want the urgenza option charged", r.Charge)
	}
}
