package main

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
)

// TestEraseMarksWhatItErases: iseed erase writes the record it erases with
// a new Scrubbed time even when nothing was left to remove (no metadata,
// no problem texts: it used to leave such a record as it was), and again
// when run again: the pipeline reads that time back to tell that a dead
// letter it stored meanwhile outlives an erasure (consumer/erased.go).
func TestEraseMarksWhatItErases(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	const tenant, id = "acme", "emp-bare"
	now := time.Now()
	rec := &record.Record{Tenant: tenant, ID: id, Fingerprint: "fp", Generation: 1, Created: now, Updated: now}
	rec.To(record.StateFailed, now, dlq.ReasonExpired)
	rec.Reason = dlq.ReasonExpired
	store, _ := createRecord(t, res.Records, rec)

	var last time.Time
	for run := 1; run <= 2; run++ {
		rep, errOut, code := runErase(t, "", "--tenant", tenant, id)
		if x := outcomes(rep)[id]; code != 0 || x.Outcome != nothingLeft || x.RecordScrubbed {
			t.Errorf("erase %d of a record with nothing to scrub: exit %d, %+v, stderr %q; want 0, nothing left, not scrubbed", run, code, x, errOut)
		}
		got, _, err := store.Get(ctx, tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Scrubbed.IsZero() || got.Scrubbed.Equal(last) {
			t.Errorf("erase %d: the record's scrubbed time is %v, want a new one (it was %v)", run, got.Scrubbed, last)
		}
		last = got.Scrubbed
	}
}
