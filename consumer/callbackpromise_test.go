package consumer_test

import (
	"context"
	"testing"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
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
			switch {
			case r.Callback == nil:
				t.Errorf("record's callback: missing, want %v", tt.want)
			case *r.Callback != tt.want:
				t.Errorf("record's callback: got %v, want %v", *r.Callback, tt.want)
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
	cache, r := lostPostsWith(t, h, marked, echoed, nil, id)
	if indexed {
		if _, err := h.Res.Requests.Create(context.Background(), record.IndexKey(r.ID), []byte(record.Key(pipetest.Tenant, id))); err != nil {
			t.Fatal(err)
		}
	}
	return cache
}
