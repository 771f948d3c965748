package consumer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine/sim"
)

func fastTracking(step time.Duration) trackSetup {
	return trackSetup{sim: sim.Config{Step: step},
		tracker: consumer.TrackerConfig{Workers: 4, Schedule: []time.Duration{30 * time.Millisecond}}}
}

func TestTrackRunsToCompletedWithDocument(t *testing.T) {
	tests := []struct {
		name    string
		encrypt bool
	}{{"in clear", false}, {"encrypted at rest", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTrackHarness(t, fastTracking(100*time.Millisecond))
			var sealer *consumer.Sealer
			if tt.encrypt {
				sealer, _ = consumer.NewSealer(bytes.Repeat([]byte{9}, 32))
			}
			tr := h.newTracker(sealer)
			h.runTracker(tr)
			h.startPipeline(tr, false)
			h.publish(submission("emp-doc", validFields("Mario")), nil)
			r := h.waitClosed("emp-doc", 20*time.Second)
			if r.State != consumer.StateCompleted {
				t.Fatalf("state: got %q, want %q", r.State, consumer.StateCompleted)
			}
			h.checkDocument(r, sealer)
			h.checkLifeEvents("emp-doc")
			waitFor(t, 5*time.Second, "the tracking task to be acknowledged", func() bool { return h.openTasks() == 0 })
		})
	}
}

// checkDocument compares the stored document with the simulator's file,
// through the record, the object at rest and FetchDocument.
func (h *trackHarness) checkDocument(r *consumer.Record, sealer *consumer.Sealer) {
	t := h.t
	t.Helper()
	_, want, ok := h.sim.Document(r.RequestID)
	if !ok {
		t.Fatal("the simulator has no document for the request")
	}
	sum := sha256.Sum256(want)
	if got, want := r.Document.SHA256, hex.EncodeToString(sum[:]); got != want {
		t.Errorf("recorded sha256: got %s, want %s", got, want)
	}
	if got, want := r.Document.Object, fmt.Sprintf("%s/%s/%.16s/%s.zip", tenant, r.ID, hex.EncodeToString(sum[:]), r.RequestID); got != want {
		t.Errorf("object: got %q, want %q", got, want)
	}
	ctx := context.Background()
	raw, err := h.tr.Documents.GetBytes(ctx, r.Document.Object)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Equal(raw, want); got == (sealer != nil) {
		t.Errorf("object at rest equals the plaintext: got %v, want %v", got, sealer == nil)
	}
	info, err := h.tr.Documents.GetInfo(ctx, r.Document.Object)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Metadata[consumer.DocMetaSHA256], r.Document.SHA256; got != want {
		t.Errorf("object metadata sha256: got %q, want %q", got, want)
	}
	if sealer != nil && info.Metadata[consumer.DocMetaKeyID] != sealer.KeyID() {
		t.Errorf("object key id: got %q, want %q", info.Metadata[consumer.DocMetaKeyID], sealer.KeyID())
	}
	var buf bytes.Buffer
	if _, err := consumer.FetchDocument(ctx, h.res, h.tr, tenant, r.ID, sealer, &buf); err != nil {
		t.Fatalf("FetchDocument: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("fetched document: got %d bytes, want the simulator's %d", buf.Len(), len(want))
	}
}

// checkLifeEvents waits for every event of a completed submission and
// checks each arrived exactly once.
func (h *trackHarness) checkLifeEvents(id string) {
	h.t.Helper()
	waitFor(h.t, 5*time.Second, "every event of "+id, func() bool {
		c := h.typeCounts(id)
		for _, typ := range lifeTypes() {
			if c[typ] == 0 {
				return false
			}
		}
		return true
	})
	c := h.typeCounts(id)
	for _, typ := range lifeTypes() {
		if c[typ] != 1 {
			h.t.Errorf("%s: %s events: got %d, want 1", id, typ, c[typ])
		}
	}
	if got, want := len(c), len(lifeTypes()); got != want {
		h.t.Errorf("%s: event types: got %v, want exactly %v", id, c, lifeTypes())
	}
}

// openTasks is the number of tracking tasks in the stream.
func (h *trackHarness) openTasks() uint64 {
	info, err := h.tr.Stream.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

func TestTrackCancelledWithReason(t *testing.T) {
	s := fastTracking(100 * time.Millisecond)
	s.sim.CancelRate = 1
	h := newTrackHarness(t, s)
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.publish(submission("emp-ko", validFields("Mario")), nil)
	r := h.waitClosed("emp-ko", 20*time.Second)
	if r.State != consumer.StateCancelled {
		t.Fatalf("state: got %q, want %q", r.State, consumer.StateCancelled)
	}
	var st publisher.Status
	waitFor(t, 5*time.Second, "the cancelled event", func() bool {
		for _, ev := range h.events("emp-ko") {
			if ev.Type == "iseed.submission.cancelled" {
				return json.Unmarshal(ev.Data, &st) == nil
			}
		}
		return false
	})
	if st.Reason == "" || st.Outcome == nil || st.Outcome.Code == "0" || st.StatoRichiesta != "Annullata" {
		t.Errorf("cancelled event: got reason %q, esito %+v, stato %q; want a reason, a failure esito and Annullata", st.Reason, st.Outcome, st.StatoRichiesta)
	}
	c := h.typeCounts("emp-ko")
	for _, typ := range []string{"iseed.submission.submitted", "iseed.submission.in_progress", "iseed.submission.cancelled"} {
		if c[typ] != 1 {
			t.Errorf("%s events: got %d, want 1 (all: %v)", typ, c[typ], c)
		}
	}
	if got := h.counter("GET /documento/{id}"); got != 0 {
		t.Errorf("document downloads: got %d, want 0", got)
	}
	waitFor(t, 5*time.Second, "the tracking task to be acknowledged", func() bool { return h.openTasks() == 0 })
}

func TestTrackRestartMidwayLosesNothing(t *testing.T) {
	const n = 20
	s := fastTracking(400 * time.Millisecond)
	s.tracker.ShutdownTimeout = time.Millisecond // in-flight polls are cut off, as in a kill
	h := newTrackHarness(t, s)
	first := h.newTracker(nil)
	stopFirst := h.runTracker(first)
	h.startPipeline(first, false)
	for i := range n {
		h.publish(submission(fmt.Sprintf("emp-%02d", i), validFields("Mario")), nil)
	}
	waitFor(t, 10*time.Second, "tracking to be under way", func() bool {
		r := h.record("emp-00")
		return r != nil && r.State == consumer.StateInProgress
	})
	stopFirst()
	open := 0
	for i := range n {
		if r := h.record(fmt.Sprintf("emp-%02d", i)); r == nil || r.Document == nil {
			open++
		}
	}
	if open == 0 {
		t.Fatal("every request finished before the restart: the test proves nothing")
	}
	h.runTracker(h.newTracker(nil))
	for i := range n {
		id := fmt.Sprintf("emp-%02d", i)
		r := h.waitClosed(id, 20*time.Second)
		if r.State != consumer.StateCompleted {
			t.Errorf("%s: state %q, want %q", id, r.State, consumer.StateCompleted)
		}
		h.checkLifeEvents(id)
	}
	// At most one download in "Dati disponibili" and one in "Visura evasa"
	// per request; checkLifeEvents saw one document_ready each (the document
	// did not change, so the second download stored and announced nothing).
	if got := h.counter("GET /documento/{id}"); got < n || got > 2*n {
		t.Errorf("document downloads: got %d, want between %d and %d", got, n, 2*n)
	}
	t.Logf("%d of %d requests were open at the restart", open, n)
}

func TestPriorISEERule(t *testing.T) {
	h := newTrackHarness(t, fastTracking(50*time.Millisecond))
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, true)
	f := validFields("Mario")
	h.publish(submissionFor("cur-1", "ISEE CORRENTE", f), nil)
	r := h.waitState("cur-1", consumer.StateRejected)
	if len(r.Errors) != 1 || r.Errors[0].Code != consumer.ReasonPriorISEE {
		t.Errorf("problems: got %+v, want one %s", r.Errors, consumer.ReasonPriorISEE)
	}
	if got := h.counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta before any ISEE: got %d, want 0", got)
	}
	h.publish(submissionFor("isee-1", "ISEE", f), nil)
	if r := h.waitClosed("isee-1", 20*time.Second); r.State != consumer.StateCompleted {
		t.Fatalf("ordinary ISEE: got %q, want %q", r.State, consumer.StateCompleted)
	}
	lower := validFields("Mario")
	lower["Codice Fiscale"] = "rssmra85t10a562s"
	for _, c := range []struct{ id, service string }{{"cur-2", "ISEE CORRENTE"}, {"ret-1", "Rettifica ISEE"}} {
		fields := f
		if c.service == "Rettifica ISEE" {
			fields = lower // the history is keyed by the upper-cased tax code
		}
		h.publish(submissionFor(c.id, c.service, fields), nil)
		waitFor(t, 10*time.Second, c.id+" to be submitted", func() bool {
			r := h.record(c.id)
			return r != nil && r.RequestID != ""
		})
	}
}

func TestTrackOverdueThenGaveUp(t *testing.T) {
	s := trackSetup{sim: sim.Config{Step: time.Hour}, tracker: consumer.TrackerConfig{Workers: 2,
		Schedule: []time.Duration{30 * time.Millisecond}, OverdueAfter: 200 * time.Millisecond, MaxAge: time.Second}}
	h := newTrackHarness(t, s)
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.publish(submission("emp-slow", validFields("Mario")), nil)
	r := h.waitClosed("emp-slow", 10*time.Second)
	if r.State != consumer.StateFailed || r.Reason != consumer.ReasonGaveUp {
		t.Fatalf("got %q (%s), want failed (%s)", r.State, r.Reason, consumer.ReasonGaveUp)
	}
	waitFor(t, 5*time.Second, "the failed event", func() bool { return h.typeCounts("emp-slow")["iseed.submission.failed"] == 1 })
	c := h.typeCounts("emp-slow")
	if c["iseed.submission.overdue"] != 1 || c["iseed.submission.in_progress"] != 1 {
		t.Errorf("events: got %v, want one overdue and one in_progress", c)
	}
	dls := h.deadLetters()
	if len(dls) != 1 || dls[0].Reason != consumer.ReasonGaveUp || dls[0].OriginalSubject != h.res.Layout.TrackSubject(tenant, "emp-slow") {
		t.Errorf("dead letters: got %+v, want one gave_up from the tracking subject", dls)
	}
	waitFor(t, 5*time.Second, "the tracking task to be acknowledged", func() bool { return h.openTasks() == 0 })
}

func TestTrackReplayOfGaveUpResumes(t *testing.T) {
	s := trackSetup{sim: sim.Config{Step: 700 * time.Millisecond}, tracker: consumer.TrackerConfig{Workers: 2,
		Schedule: []time.Duration{30 * time.Millisecond}, OverdueAfter: 200 * time.Millisecond, MaxAge: 400 * time.Millisecond}}
	h := newTrackHarness(t, s)
	first := h.newTracker(nil)
	stopFirst := h.runTracker(first)
	h.startPipeline(first, false)
	h.publish(submission("emp-again", validFields("Mario")), nil)
	if r := h.waitClosed("emp-again", 10*time.Second); r.Reason != consumer.ReasonGaveUp {
		t.Fatalf("got %q (%s), want failed (%s)", r.State, r.Reason, consumer.ReasonGaveUp)
	}
	stopFirst()
	h.tcfg.MaxAge = time.Hour // the operator raises the limit, then replays
	h.runTracker(h.newTracker(nil))
	var seq uint64
	waitFor(t, 5*time.Second, "the gave_up dead letter", func() bool {
		for _, dl := range h.deadLetters() {
			if dl.Reason == consumer.ReasonGaveUp {
				seq = dl.Seq
				return true
			}
		}
		return false
	})
	if err := consumer.NewDLQ(h.nats.JS, h.res).Replay(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the request to complete after the replay", func() bool {
		r := h.record("emp-again")
		return r.State == consumer.StateCompleted && r.Document != nil
	})
	c := h.typeCounts("emp-again")
	for _, typ := range []string{"iseed.submission.failed", "iseed.submission.completed", publisher.TypeDocumentReady} {
		if c[typ] != 1 {
			t.Errorf("%s events: got %d, want 1 (all: %v)", typ, c[typ], c)
		}
	}
}
