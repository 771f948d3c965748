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

// TestRecordSaysWhetherACallbackWasPromised: the record of a request says
// whether its POST carried callback_data (record.Record.Callback), which
// is all tracking counts toward distrusting callbacks. Posted: what this
// POST carried. Found by reconciliation: promised when every POST of the
// unanswered attempt carried the marker, or when the upstream shows the
// submission's marker on the request; not when neither says so (an
// attempt made before callbacks were turned on, its request indexed).
func TestRecordSaysWhetherACallbackWasPromised(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		callbacks bool // the pipeline's
		lost      bool // an unanswered POST of an earlier process, reconciled
		marked    bool // that attempt's POSTs carried the marker (record.Attempt.Marked)
		echoed    bool // the upstream shows the marker on its request
		indexed   bool // the request index names the submission (its answer was indexed, or an operator adopted it)
		want      bool
	}{
		{name: "posted with callback_data", callbacks: true, want: true},
		{name: "posted without", callbacks: false, want: false},
		{name: "reconciled, every POST marked", callbacks: true, lost: true, marked: true, echoed: true, want: true},
		{name: "reconciled by the index, POSTs marked, no echo", callbacks: true, lost: true, marked: true, indexed: true, want: true},
		{name: "reconciled by the index, the marker echoed", callbacks: true, lost: true, echoed: true, indexed: true, want: true},
		{name: "reconciled by the index, posted before callbacks were on", callbacks: true, lost: true, indexed: true, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			opts := []pipetest.Option{}
			if tt.lost {
				opts = append(opts, pipetest.WithSchemas(lostPost(t, h, "emp-cb", tt.marked, tt.echoed, tt.indexed)))
			}
			if !tt.callbacks {
				opts = append(opts, pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil }))
			}
			h.Start(opts...)
			h.Publish(pipetest.Submission("emp-cb", pipetest.ValidFields("Mario")), nil)
			r := h.WaitState("emp-cb", record.StateSubmitted)
			if got := h.Counter("created"); got != 1 {
				t.Fatalf("upstream requests: got %d, want 1", got)
			}
			if r.Callback != tt.want {
				t.Errorf("record's callback: got %v, want %v", r.Callback, tt.want)
			}
		})
	}
}

// lostPost stores the record of submission id with an unanswered POST of
// a crashed process (marked as the harness marks them when marked is set)
// and creates the upstream request that POST made: with the marker when
// echoed, and in the request index when indexed.
func lostPost(t *testing.T, h *harness, id string, marked, echoed, indexed bool) *schema.Cache {
	t.Helper()
	ctx := context.Background()
	cache := h.Schemas()
	svc, err := cache.Service(ctx, "ISEE")
	if err != nil {
		t.Fatal(err)
	}
	fields := pipetest.ValidFields("Mario")
	prep, err := svc.Validate(schema.Input{Fields: fields, Options: []string{"urgenza"}}, schema.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	h.PutRecord(id, fields, func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Pending = &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second), Marked: marked}
	})
	req := visengine.CreateRequest{HashVisura: prep.HashVisura, JSONVisura: prep.JSONVisura, Opzioni: prep.Opzioni}
	if echoed {
		req.CallbackData = h.Marker(pipetest.Tenant, id)
	}
	r, err := h.Client.CreateRichiesta(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if indexed {
		if _, err := h.Res.Requests.Create(ctx, record.IndexKey(r.ID), []byte(record.Key(pipetest.Tenant, id))); err != nil {
			t.Fatal(err)
		}
	}
	return cache
}
