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
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// personGate is a Gate that allows everything and names every person
// "person-<tenant>".
type personGate struct{}

func (personGate) Allow(context.Context, string, *schema.Service, *schema.Prepared) ([]schema.Problem, error) {
	return nil, nil
}

func (personGate) PersonKey(tenant string, _ *schema.Service, _ *schema.Prepared) string {
	return "person-" + tenant
}

// scrub scrubs the record of id as the retention does: Scrub, then a
// compare-and-set on the revision read.
func (h *harness) scrub(id string) *record.Record {
	h.T.Helper()
	store := record.NewStore(h.Res.Records)
	rec, rev, err := store.Get(context.Background(), pipetest.Tenant, id)
	if err != nil {
		h.T.Fatal(err)
	}
	if !rec.Scrub(time.Now()) {
		h.T.Fatalf("record %s (%s) has nothing to scrub", id, rec.State)
	}
	if _, err := store.Update(context.Background(), rec, rev); err != nil {
		h.T.Fatal(err)
	}
	return rec
}

// TestReplayOfScrubbedSubmissionNeverPaysAgain: the dead letter of a
// submission that got its upstream request after all (an ambiguous POST
// adopted later), replayed once the retention scrubbed its closed record,
// is acknowledged without a POST, and leaves the record closed and
// scrubbed.
func TestReplayOfScrubbedSubmissionNeverPaysAgain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		close func(r *record.Record)
	}{
		{"completed", func(r *record.Record) {
			r.To(record.StateCompleted, time.Now(), "upstream: "+visengine.StateFulfilled)
			r.StatoRichiesta = visengine.StateFulfilled
			r.Document = &record.DocumentRef{Bucket: "b", Object: "o", Size: 1, SHA256: "s", ContentType: "application/zip", Stato: visengine.StateFulfilled}
		}},
		{"cancelled", func(r *record.Record) {
			r.To(record.StateCancelled, time.Now(), "upstream: "+visengine.StateCancelled)
		}},
		{"failed after submission (tracking gave up)", func(r *record.Record) {
			r.To(record.StateFailed, time.Now(), dlq.ReasonGaveUp)
			r.Reason = dlq.ReasonGaveUp
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Gate = personGate{} }))
			payload := pipetest.Submission("emp-s", pipetest.ValidFields("Mario"))
			h.Publish(payload, nil)
			submitted := h.WaitState("emp-s", record.StateSubmitted)
			if submitted.PersonKey == "" || len(submitted.Metadata) == 0 {
				t.Fatalf("submitted record: person key %q, metadata %s; want both, to be scrubbed", submitted.PersonKey, submitted.Metadata)
			}
			// The dead letter the ambiguous POST left before its request was adopted.
			dl := dlq.DeadLetter{OriginalSubject: h.Res.Layout.SubmissionSubject(pipetest.Tenant), StreamSeq: 99,
				Tenant: pipetest.Tenant, SubmissionID: "emp-s", Reason: dlq.ReasonAmbiguous, Generation: 1}
			if err := dlq.Publish(context.Background(), h.NATS.JS, h.Res.Layout, dl, payload,
				dlq.MsgID(pipetest.Tenant, "emp-s", 1, dlq.ReasonAmbiguous)); err != nil {
				t.Fatal(err)
			}
			store := record.NewStore(h.Res.Records)
			rec, rev, err := store.Get(context.Background(), pipetest.Tenant, "emp-s")
			if err != nil {
				t.Fatal(err)
			}
			tt.close(rec)
			if _, err := store.Update(context.Background(), rec, rev); err != nil {
				t.Fatal(err)
			}
			scrubbed := h.scrub("emp-s")

			var dls []dlq.DeadLetter
			pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
			if err := h.Queue().Replay(context.Background(), dls[0].Seq); err != nil {
				t.Fatal(err)
			}
			pipetest.WaitFor(t, 10*time.Second, "the replay handled", func() bool { return h.settled() && len(h.DeadLetters()) == 0 })
			if got := h.Counter("created"); got != 1 {
				t.Errorf("upstream requests: got %d, want 1 (the replay must not pay again)", got)
			}
			if got := h.Counter("POST /richiesta"); got != 1 {
				t.Errorf("POSTs: got %d, want 1", got)
			}
			after := h.Record("emp-s")
			if after.State != scrubbed.State || after.Generation != scrubbed.Generation || after.Scrubbed.IsZero() ||
				after.PersonKey != "" || len(after.Metadata) != 0 || after.RequestID != submitted.RequestID {
				t.Errorf("record after the replay: state %s, generation %d, scrubbed %v, person key %q, metadata %s, request %s; want %s, %d, scrubbed, none, none, %s",
					after.State, after.Generation, after.Scrubbed, after.PersonKey, after.Metadata, after.RequestID,
					scrubbed.State, scrubbed.Generation, submitted.RequestID)
			}
		})
	}
}

// TestReplayReopensScrubbedRecordWithPayloadData: a failed submission
// that never had a request, replayed once the retention scrubbed its
// record, is sent once, and its reopened record takes the metadata and the
// person key from the replayed payload, no longer scrubbed.
func TestReplayReopensScrubbedRecordWithPayloadData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Gate = personGate{} }))
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // refused: nothing created
	h.Publish(pipetest.Submission("emp-f", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-f", record.StateFailed)
	h.Sim.SetFaults(sim.Faults{})
	// The retention scrubs a record closed long since: only once its
	// delivery has settled. Scrubbed between the letter's storing and the
	// pipeline's read of the record after it, the record was erased while
	// the letter was stored, and the letter is withdrawn (erased.go).
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 10*time.Second, "the dead letter, and the delivery settled", func() bool {
		dls = h.DeadLetters()
		return len(dls) == 1 && h.settled()
	})
	h.scrub("emp-f")

	if err := h.Queue().Replay(context.Background(), dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	r := h.WaitState("emp-f", record.StateSubmitted)
	var meta map[string]string
	if err := json.Unmarshal(r.Metadata, &meta); err != nil || meta["employee_id"] != "7781" {
		t.Errorf("reopened record's metadata: got %s (%v), want the payload's employee_id 7781", r.Metadata, err)
	}
	if want := "person-" + pipetest.Tenant; r.PersonKey != want {
		t.Errorf("reopened record's person key: got %q, want %q", r.PersonKey, want)
	}
	if !r.Scrubbed.IsZero() {
		t.Errorf("reopened record: scrubbed %v, want zero (it has its data again)", r.Scrubbed)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}
