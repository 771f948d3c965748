package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestRecordSaysWhenItsDocumentWasStored: the bucket's TTL deletes a
// document ISEED_DOCUMENT_TTL after it was stored, and a record only said
// when it entered the state the document was fetched in: a document
// stored later (download retries, a catch-up, a replay) expires later
// than that. The record's document reference says when the server stored
// the object (its meta's time), for the receipt of Dati disponibili and
// for the final document, and CheckDocument tells until when it is kept.
func TestRecordSaysWhenItsDocumentWasStored(t *testing.T) {
	tests := []struct {
		name  string
		setup trackSetup
		stato string // the document's, once the record has it
	}{
		{"final document", fastTracking(50 * time.Millisecond), visengine.StateFulfilled},
		{"receipt of Dati disponibili", trackSetup{
			// In Dati disponibili at once, and for an hour.
			sim:     sim.Config{Lifetime: func(string, time.Time, uint64) (time.Duration, time.Duration) { return 0, time.Hour }},
			tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{30 * time.Millisecond, time.Hour}},
		}, visengine.StateDataReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTrackHarness(t, tt.setup)
			tr := h.newTracker(nil)
			h.runTracker(tr)
			h.startPipeline(tr, false)
			h.Publish(pipetest.Submission("emp-stored", pipetest.ValidFields("Mario")), nil)
			var r *record.Record
			pipetest.WaitFor(t, 30*time.Second, "the record to name its "+tt.stato+" document", func() bool {
				r = h.Record("emp-stored")
				return r != nil && r.Document != nil && r.Document.Stato == tt.stato
			})
			ctx := context.Background()
			info, err := h.documentsBucket(pipetest.Tenant).GetInfo(ctx, r.Document.Object)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Document.Stored; !got.Equal(info.ModTime) || got.Location() != time.UTC {
				t.Errorf("document stored: got %v, want %v in UTC (the object's, as the server recorded it)", got, info.ModTime)
			}
			st, err := tracking.CheckDocument(ctx, h.NATS.JS, r, time.Now())
			if want := r.Document.Stored.Add(h.Res.Layout.DocumentTTL); err != nil || st.Gone || !st.ExpiresAt.Equal(want) {
				t.Errorf("CheckDocument: got %+v, %v; want kept until %v (stored plus ISEED_DOCUMENT_TTL)", st, err, want)
			}
		})
	}
}
