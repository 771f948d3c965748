package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/seal"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

func fastTracking(step time.Duration) trackSetup {
	return trackSetup{sim: sim.Config{Step: step},
		tracker: tracking.Config{Workers: 4, Schedule: []time.Duration{30 * time.Millisecond}}}
}

func TestTrackRunsToCompletedWithDocument(t *testing.T) {
	tests := []struct {
		name    string
		encrypt bool
	}{{"in clear", false}, {"encrypted at rest", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTrackHarness(t, fastTracking(100*time.Millisecond))
			var kr *seal.Keyring
			if tt.encrypt {
				kr = newKeyring(t)
			}
			tr := h.newTracker(kr)
			h.runTracker(tr)
			h.startPipeline(tr, false)
			h.Publish(pipetest.Submission("emp-doc", pipetest.ValidFields("Mario")), nil)
			r := h.waitClosed("emp-doc", 20*time.Second)
			if r.State != record.StateCompleted {
				t.Fatalf("state: got %q, want %q", r.State, record.StateCompleted)
			}
			h.checkDocument(r, kr)
			h.checkLifeEvents("emp-doc")
			checkGoldenShape(t, h.Events("emp-doc"))
			pipetest.WaitFor(t, 5*time.Second, "the tracking task to be acknowledged", func() bool { return h.openTasks() == 0 })
		})
	}
}

// checkDocument compares the stored document with the simulator's file,
// through the record, the object at rest and FetchDocument.
func (h *trackHarness) checkDocument(r *record.Record, kr *seal.Keyring) {
	t := h.T
	t.Helper()
	_, want, ok := h.Sim.Document(r.RequestID)
	if !ok {
		t.Fatal("the simulator has no document for the request")
	}
	sum := sha256.Sum256(want)
	if got, want := r.Document.SHA256, hex.EncodeToString(sum[:]); got != want {
		t.Errorf("recorded sha256: got %s, want %s", got, want)
	}
	// The simulator serves the same file in Dati disponibili and Visura
	// evasa: a final document that the receipt stored under its name has
	// a name of its own.
	object := tracking.DocumentObject(pipetest.Tenant, r.ID, hex.EncodeToString(sum[:]), r.RequestID+".zip")
	for _, d := range pipetest.DocumentEvents(t, h.Events(r.ID)) {
		if !d.Final && d.Object == object {
			object = tracking.FinalDocumentObject(pipetest.Tenant, r.ID, hex.EncodeToString(sum[:]), r.RequestID+".zip")
		}
	}
	if got := r.Document.Object; got != object {
		t.Errorf("object: got %q, want %q", got, object)
	}
	if got, want := r.Document.Bucket, h.Res.Layout.TenantDocumentsBucket(pipetest.Tenant); got != want {
		t.Errorf("bucket: got %q, want the tenant's own %q", got, want)
	}
	ctx := context.Background()
	docs := h.documentsBucket(pipetest.Tenant)
	raw, err := docs.GetBytes(ctx, r.Document.Object)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Equal(raw, want); got == (kr != nil) {
		t.Errorf("object at rest equals the plaintext: got %v, want %v", got, kr == nil)
	}
	info, err := docs.GetInfo(ctx, r.Document.Object)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Metadata[tracking.DocMetaSHA256], r.Document.SHA256; got != want {
		t.Errorf("object metadata sha256: got %q, want %q", got, want)
	}
	if kr != nil && info.Metadata[seal.MetaEncryption] != seal.SchemeAge {
		t.Errorf("object encryption: got %q, want %q", info.Metadata[seal.MetaEncryption], seal.SchemeAge)
	}
	var buf bytes.Buffer
	if _, err := tracking.FetchDocument(ctx, h.NATS.JS, h.Res, pipetest.Tenant, r.ID, kr, &buf); err != nil {
		t.Fatalf("FetchDocument: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("fetched document: got %d bytes, want the simulator's %d", buf.Len(), len(want))
	}
	// Every announcement says how its object is kept, the receipt's and
	// the final one's.
	for _, d := range pipetest.DocumentEvents(t, h.Events(r.ID)) {
		if d.Encrypted != (kr != nil) || (d.KeyID != "") != (kr != nil) {
			t.Errorf("document event (final: %v): encrypted %v, key_id %q; want encrypted %v with its key id", d.Final, d.Encrypted, d.KeyID, kr != nil)
		}
	}
}

// checkLifeEvents waits for every event of a completed submission and
// checks each state's arrived exactly once, and one document event per
// distinct document (pipetest.CheckDocuments).
func (h *trackHarness) checkLifeEvents(id string) {
	h.T.Helper()
	pipetest.WaitFor(h.T, 5*time.Second, "every event of "+id, func() bool {
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
		if c[typ] != 1 && typ != publisher.TypeDocumentReady {
			h.T.Errorf("%s: %s events: got %d, want 1", id, typ, c[typ])
		}
	}
	if got, want := len(c), len(lifeTypes()); got != want {
		h.T.Errorf("%s: event types: got %v, want exactly %v", id, c, lifeTypes())
	}
	pipetest.CheckDocuments(h.T, h.Events(id), h.Record(id))
}

// openTasks is the number of tracking tasks in the stream.
func (h *trackHarness) openTasks() uint64 {
	info, err := h.Res.Track.Info(context.Background())
	if err != nil {
		h.T.Fatal(err)
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
	h.Publish(pipetest.Submission("emp-ko", pipetest.ValidFields("Mario")), nil)
	r := h.waitClosed("emp-ko", 20*time.Second)
	if r.State != record.StateCancelled {
		t.Fatalf("state: got %q, want %q", r.State, record.StateCancelled)
	}
	var st publisher.Status
	pipetest.WaitFor(t, 5*time.Second, "the cancelled event", func() bool {
		for _, ev := range h.Events("emp-ko") {
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
	checkGoldenShape(t, h.Events("emp-ko"))
	if got := h.Counter("GET /documento/{id}"); got != 0 {
		t.Errorf("document downloads: got %d, want 0", got)
	}
	pipetest.WaitFor(t, 5*time.Second, "the tracking task to be acknowledged", func() bool { return h.openTasks() == 0 })
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
		h.Publish(pipetest.Submission(fmt.Sprintf("emp-%02d", i), pipetest.ValidFields("Mario")), nil)
	}
	pipetest.WaitFor(t, 30*time.Second, "tracking to be under way", func() bool {
		r := h.Record("emp-00") // in progress or beyond: a poll missing its brief in_progress must not wait for ever
		return r != nil && r.State != record.StateSubmitted && r.RequestID != ""
	})
	stopFirst()
	open := 0
	for i := range n {
		if r := h.Record(fmt.Sprintf("emp-%02d", i)); r == nil || r.Document == nil {
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
		if r.State != record.StateCompleted {
			t.Errorf("%s: state %q, want %q", id, r.State, record.StateCompleted)
		}
		h.checkLifeEvents(id)
	}
	// At most one download in "Dati disponibili" and one in "Visura evasa"
	// per request; checkLifeEvents saw one document_ready per distinct
	// document (a download of the same bytes stored and announced nothing).
	if got := h.Counter("GET /documento/{id}"); got < n || got > 2*n {
		t.Errorf("document downloads: got %d, want between %d and %d", got, n, 2*n)
	}
	t.Logf("%d of %d requests were open at the restart", open, n)
}

func TestPriorISEERule(t *testing.T) {
	h := newTrackHarness(t, fastTracking(50*time.Millisecond))
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, true)
	f := pipetest.ValidFields("Mario")
	h.Publish(submissionFor("cur-1", "ISEE CORRENTE", f), nil)
	r := h.WaitState("cur-1", record.StateRejected)
	if len(r.Errors) != 1 || r.Errors[0].Code != dlq.ReasonPriorISEE {
		t.Errorf("problems: got %+v, want one %s", r.Errors, dlq.ReasonPriorISEE)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta before any ISEE: got %d, want 0", got)
	}
	// Its dead letter says why, and an operator may replay it unchanged
	// (invalid input would be refused) once the ordinary ISEE is done.
	var letter dlq.DeadLetter
	pipetest.WaitFor(t, 5*time.Second, "cur-1's dead letter", func() bool {
		for _, dl := range h.DeadLetters() {
			if dl.SubmissionID == "cur-1" {
				letter = dl
				return true
			}
		}
		return false
	})
	if letter.Reason != dlq.ReasonPriorISEE || !strings.Contains(letter.Error, "no completed ISEE for this person") {
		t.Errorf("dead letter: reason %q, error %q; want %q, saying there is no completed ISEE", letter.Reason, letter.Error, dlq.ReasonPriorISEE)
	}
	if err := dlq.CheckReplay(letter); err != nil {
		t.Errorf("CheckReplay: %v, want it allowed", err)
	}
	h.Publish(submissionFor("isee-1", "ISEE", f), nil)
	if r := h.waitClosed("isee-1", 20*time.Second); r.State != record.StateCompleted || r.PersonKey == "" {
		t.Fatalf("ordinary ISEE: got %q, person key %q; want %q with a person key", r.State, r.PersonKey, record.StateCompleted)
	}
	if err := h.Queue().Replay(context.Background(), letter.Seq); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "cur-1 to be submitted after the replay", func() bool {
		r := h.Record("cur-1")
		return r != nil && r.RequestID != ""
	})
	lower := pipetest.ValidFields("Mario")
	lower["Codice Fiscale"] = "rssmra85t10a562s"
	for _, c := range []struct{ id, service string }{{"cur-2", "ISEE CORRENTE"}, {"ret-1", "Rettifica ISEE"}} {
		fields := f
		if c.service == "Rettifica ISEE" {
			fields = lower // the history is keyed by the upper-cased tax code
		}
		h.Publish(submissionFor(c.id, c.service, fields), nil)
		pipetest.WaitFor(t, 10*time.Second, c.id+" to be submitted", func() bool {
			r := h.Record(c.id)
			return r != nil && r.RequestID != ""
		})
	}
}

// TestPriorISEEIsPerTenantAndRevealsNothing: the history is per tenant, so
// another tenant learns nothing of this tenant's employees: for the same
// person it is refused as if no ISEE existed, and with bad input it only
// hears about the bad input.
func TestPriorISEEIsPerTenantAndRevealsNothing(t *testing.T) {
	h := newTrackHarness(t, fastTracking(50*time.Millisecond))
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, true)
	f := pipetest.ValidFields("Mario")
	h.Publish(submissionFor("isee-a", "ISEE", f), nil)
	if r := h.waitClosed("isee-a", 20*time.Second); r.State != record.StateCompleted {
		t.Fatalf("acme's ISEE: got %q, want completed", r.State)
	}
	posts := h.Counter("POST /richiesta")
	publishAs := func(tenant string, data []byte) {
		if _, err := h.NATS.JS.Publish(context.Background(), h.Res.Layout.SubmissionSubject(tenant), data); err != nil {
			t.Fatal(err)
		}
	}
	bad := pipetest.ValidFields("Mario")
	bad["Email"] = "not an address"
	publishAs("globex", submissionFor("cur-b", "ISEE CORRENTE", f))
	publishAs("globex", submissionFor("cur-bad", "ISEE CORRENTE", bad))
	store := record.NewStore(h.Res.Records)
	get := func(id string) *record.Record {
		var r *record.Record
		pipetest.WaitFor(t, 10*time.Second, "globex/"+id+" rejected", func() bool {
			r, _, _ = store.Get(context.Background(), "globex", id)
			return r != nil && r.State == record.StateRejected
		})
		return r
	}
	if r := get("cur-b"); len(r.Errors) != 1 || r.Errors[0].Code != dlq.ReasonPriorISEE {
		t.Errorf("globex, same person: got %+v, want only %s (acme's history is not globex's)", r.Errors, dlq.ReasonPriorISEE)
	}
	if r := get("cur-bad"); len(r.Errors) != 1 || r.Errors[0].Code == dlq.ReasonPriorISEE {
		t.Errorf("globex, bad input: got %+v, want only the input's problem", r.Errors)
	}
	if got := h.Counter("POST /richiesta"); got != posts {
		t.Errorf("POSTs for globex: got %d, want none", got-posts)
	}
}

// TestPriorISEEServicesMatchByWords: services needing a prior ISEE are
// matched by words in the catalog name, so "ISEE Corrente 2025" is caught.
func TestPriorISEEServicesMatchByWords(t *testing.T) {
	h, err := tracking.NewHistory(nil, nil, bytes.Repeat([]byte("k"), 32), tracking.DefaultServices())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		need bool
	}{
		{"ISEE CORRENTE", true}, {"ISEE Corrente 2025", true}, {"isee-corrente", true}, {"Rettifica ISEE", true},
		{"ISEE rettifica (2026)", true}, {"ISEE", false}, {"ISEE SOCIO SANITARIO A CICLO CONTINUO", false}, {"CORRENTEISEE", false},
	}
	for _, tt := range tests {
		svc := &schema.Service{Name: tt.name}
		probs, err := h.Allow(context.Background(), "acme", svc, &schema.Prepared{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(probs) == 1; got != tt.need {
			t.Errorf("%q: needs a prior ISEE: got %v, want %v", tt.name, got, tt.need)
		}
	}
}

// dayIn200ms is a timebase on which a working day passes in 200 ms of real
// time, from a Monday's midnight: overdue (in working days) and the
// maximum age can be seen in a test.
func dayIn200ms(t *testing.T) tracking.Timebase {
	t.Helper()
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	return tracking.Timebase{Scale: float64(24*time.Hour) / float64(200*time.Millisecond), Real: time.Now(),
		Sim: time.Date(2025, 3, 3, 0, 0, 0, 0, rome)}
}

// onDayIn200ms is a real duration d on dayIn200ms's clock.
func onDayIn200ms(d time.Duration) time.Duration {
	return d * time.Duration(24*time.Hour/(200*time.Millisecond))
}

func TestTrackOverdueThenGaveUp(t *testing.T) {
	s := trackSetup{sim: sim.Config{Step: time.Hour}, tracker: tracking.Config{Workers: 2, Timebase: dayIn200ms(t),
		Schedule: []time.Duration{onDayIn200ms(30 * time.Millisecond)}, OverdueWorkdays: 1, MaxAge: onDayIn200ms(time.Second)}}
	h := newTrackHarness(t, s)
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-slow", pipetest.ValidFields("Mario")), nil)
	r := h.waitClosed("emp-slow", 10*time.Second)
	if r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp {
		t.Fatalf("got %q (%s), want failed (%s)", r.State, r.Reason, dlq.ReasonGaveUp)
	}
	pipetest.WaitFor(t, 5*time.Second, "the failed event", func() bool { return h.typeCounts("emp-slow")["iseed.submission.failed"] == 1 })
	c := h.typeCounts("emp-slow")
	if c["iseed.submission.overdue"] != 1 || c["iseed.submission.in_progress"] != 1 {
		t.Errorf("events: got %v, want one overdue and one in_progress", c)
	}
	checkGoldenShape(t, h.Events("emp-slow"))
	dls := h.DeadLetters()
	if len(dls) != 1 || dls[0].Reason != dlq.ReasonGaveUp || dls[0].OriginalSubject != h.Res.Layout.TrackSubject(pipetest.Tenant, "emp-slow") {
		t.Errorf("dead letters: got %+v, want one gave_up from the tracking subject", dls)
	}
	pipetest.WaitFor(t, 5*time.Second, "the tracking task to be acknowledged", func() bool { return h.openTasks() == 0 })
}

func TestTrackReplayOfGaveUpResumes(t *testing.T) {
	s := trackSetup{sim: sim.Config{Step: 700 * time.Millisecond}, tracker: tracking.Config{Workers: 2, Timebase: dayIn200ms(t),
		Schedule: []time.Duration{onDayIn200ms(30 * time.Millisecond)}, OverdueWorkdays: 1, MaxAge: onDayIn200ms(400 * time.Millisecond)}}
	h := newTrackHarness(t, s)
	first := h.newTracker(nil)
	stopFirst := h.runTracker(first)
	h.startPipeline(first, false)
	h.Publish(pipetest.Submission("emp-again", pipetest.ValidFields("Mario")), nil)
	if r := h.waitClosed("emp-again", 10*time.Second); r.Reason != dlq.ReasonGaveUp {
		t.Fatalf("got %q (%s), want failed (%s)", r.State, r.Reason, dlq.ReasonGaveUp)
	}
	stopFirst()
	h.tcfg.MaxAge = onDayIn200ms(time.Hour) // the operator raises the limit, then replays
	h.runTracker(h.newTracker(nil))
	var seq uint64
	pipetest.WaitFor(t, 5*time.Second, "the gave_up dead letter", func() bool {
		for _, dl := range h.DeadLetters() {
			if dl.Reason == dlq.ReasonGaveUp {
				seq = dl.Seq
				return true
			}
		}
		return false
	})
	if err := h.Queue().Replay(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "the request to complete after the replay", func() bool {
		r := h.Record("emp-again")
		return r.State == record.StateCompleted && r.Document != nil && r.Document.Stato == visengine.StateFulfilled
	})
	c := h.typeCounts("emp-again")
	for _, typ := range []string{"iseed.submission.failed", "iseed.submission.completed"} {
		if c[typ] != 1 {
			t.Errorf("%s events: got %d, want 1 (all: %v)", typ, c[typ], c)
		}
	}
	pipetest.CheckDocuments(t, h.Events("emp-again"), h.Record("emp-again"))
}
