package consumer_test

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/record"
)

// TestReconciledKeptRequestIsEnteredAsReconciled: reconciliation proves a
// lost POST's request the submission's (its marker), and the request
// index refuses it past AdoptGrace: the id is kept in the record, and the
// next delivery adopts it. The request was found by reconciliation, not
// by a POST's answer: its charge (and ledger entry) says reconciled, as
// when the first delivery records it.
func TestReconciledKeptRequestIsEnteredAsReconciled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cache := lostPosts(t, h, true, "emp-rk")
	idx := &slowIndex{KeyValue: h.Res.Requests}
	res := *h.Res
	res.Requests = idx
	const grace = time.Second
	h.Start(pipetest.WithSchemas(cache), pipetest.WithDeps(func(d *consumer.Deps) { d.Resources = &res }),
		pipetest.WithConfig(func(c *consumer.Config) { c.AdoptGrace = grace }))
	h.Publish(pipetest.Submission("emp-rk", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the reconciled id kept in the record", func() bool {
		r := h.Record("emp-rk")
		return r != nil && r.Answered() != ""
	})
	pipetest.WaitFor(t, 30*time.Second, "a write to the index after the first delivery gave up", func() bool {
		return time.Duration(idx.last.Load()-idx.first.Load()) > grace+time.Second
	})
	idx.open.Store(true)
	r := h.WaitState("emp-rk", record.StateSubmitted)
	if h.Counter("POST /richiesta") != 1 { // the lost one lostPosts made
		t.Errorf("POSTs: %d, want 1", h.Counter("POST /richiesta"))
	}
	if r.Charge == nil || r.Charge.Source != ledger.SourceReconciled {
		t.Errorf("charge: %+v; want source %s", r.Charge, ledger.SourceReconciled)
	}
}
