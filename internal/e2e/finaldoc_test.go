package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
)

// changingDocuments serves one document in "Dati disponibili" (the DSU
// receipt) and another in "Visura evasa" (the certificate).
type changingDocuments struct{ *visengine.Client }

func (c changingDocuments) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	r, err := c.Richiesta(ctx, id)
	if err != nil {
		return nil, err
	}
	body := []byte("%PDF-1.4 ricevuta DSU")
	if r.StatoRichiesta == visengine.StateFulfilled {
		body = []byte("%PDF-1.4 attestazione ISEE")
	}
	return pdfAnswer(w, id, body)
}

// pdfAnswer writes body to w as a stub upstream's GET /documento answers
// it: the request's id as the file's name, its length declared.
func pdfAnswer(w io.Writer, id string, body []byte) (*visengine.Document, error) {
	n, err := w.Write(body)
	return &visengine.Document{Nome: id + ".pdf", Dimensione: int64(len(body)), Written: int64(n)}, err
}

func TestFinalDocumentReplacesTheEarlierOne(t *testing.T) {
	// Each state lasts a second: the receipt is only served while the
	// request is in "Dati disponibili", and a poll delayed by a loaded
	// machine (CI: 150 ms steps) missed it.
	h := newTrackHarness(t, fastTracking(time.Second))
	h.upstream = changingDocuments{h.Client}
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-final", pipetest.ValidFields("Mario")), nil)
	r := h.waitClosed("emp-final", 20*time.Second)
	final := sha256.Sum256([]byte("%PDF-1.4 attestazione ISEE"))
	if r.Document == nil || r.Document.SHA256 != hex.EncodeToString(final[:]) || r.Document.Stato != visengine.StateFulfilled {
		t.Fatalf("stored document: got %+v, want the certificate fetched in Visura evasa", r.Document)
	}
	var got bytes.Buffer
	if _, err := tracking.FetchDocument(context.Background(), h.NATS.JS, h.Res, pipetest.Tenant, "emp-final", nil, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), []byte("%PDF-1.4 attestazione ISEE")) {
		t.Errorf("object content: got %q, want the certificate", got.Bytes())
	}
	docs := pipetest.CheckDocuments(t, h.Events("emp-final"), r)
	if len(docs) != 2 || docs[0].Final || docs[0].SHA256 == r.Document.SHA256 || !docs[1].Final {
		t.Errorf("document_ready events: got %+v, want the receipt's, then the certificate's", docs)
	}
}

// failingFinalDocument serves the simulator's documents, except in "Visura
// evasa" while broken: "document not yet available" then.
type failingFinalDocument struct {
	*visengine.Client
	broken atomic.Bool
	failed atomic.Int32 // final downloads refused
}

func (c *failingFinalDocument) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	r, err := c.Richiesta(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.StatoRichiesta == visengine.StateFulfilled && c.broken.Load() {
		c.failed.Add(1)
		return nil, &visengine.Error{Op: "GET /documento/{id}", Status: 422, Code: 247, Class: visengine.ClassNotReady}
	}
	return c.Client.Documento(ctx, id, w)
}

// submitWithoutFinalDocument runs h's tracker and pipeline on an upstream
// whose final documents fail to download until it is mended, and submits
// id.
func submitWithoutFinalDocument(h *trackHarness, id string) *failingFinalDocument {
	up := &failingFinalDocument{Client: h.Client}
	up.broken.Store(true)
	h.upstream = up
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
	return up
}

// A request the upstream fulfilled whose final document cannot be
// downloaded yet is not announced completed: the record waits in
// data_ready (stato Visura evasa) and completed follows the final
// document's event once it is stored.
func TestCompletedWaitsForTheFinalDocument(t *testing.T) {
	h := newTrackHarness(t, fastTracking(100*time.Millisecond))
	up := submitWithoutFinalDocument(h, "emp-wait")
	pipetest.WaitFor(t, 20*time.Second, "final downloads to fail", func() bool { return up.failed.Load() >= 3 })
	if r := h.Record("emp-wait"); r.State != record.StateDataReady || r.StatoRichiesta != visengine.StateFulfilled {
		t.Errorf("record while the final document fails: state %s, stato %q; want data_ready, Visura evasa", r.State, r.StatoRichiesta)
	}
	if c := h.typeCounts("emp-wait"); c["iseed.submission.completed"] != 0 {
		t.Errorf("events while the final document fails: got %v, want no completed", c)
	}
	up.broken.Store(false)
	r := h.waitClosed("emp-wait", 20*time.Second)
	if r.State != record.StateCompleted {
		t.Fatalf("state: got %q, want %q", r.State, record.StateCompleted)
	}
	h.checkLifeEvents("emp-wait") // the final document before completed
}

// A final document that never comes ends tracking at its maximum age like
// a request that never finishes, and the failed event says why: fulfilled
// upstream, its final document not stored. Completed is never announced.
func TestGaveUpOnTheFinalDocumentSaysSo(t *testing.T) {
	s := trackSetup{sim: sim.Config{Step: 50 * time.Millisecond}, tracker: tracking.Config{Workers: 2, Timebase: dayIn200ms(t),
		Schedule: []time.Duration{onDayIn200ms(30 * time.Millisecond)}, MaxAge: onDayIn200ms(time.Second)}}
	h := newTrackHarness(t, s)
	submitWithoutFinalDocument(h, "emp-nodoc")
	r := h.waitClosed("emp-nodoc", 20*time.Second)
	if r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "final document") {
		t.Fatalf("got %q (%s, %+v), want failed (%s) naming the final document", r.State, r.Reason, r.Errors, dlq.ReasonGaveUp)
	}
	pipetest.WaitFor(t, 5*time.Second, "the failed event", func() bool { return h.typeCounts("emp-nodoc")["iseed.submission.failed"] == 1 })
	for _, ev := range h.Events("emp-nodoc") {
		switch ev.Type {
		case "iseed.submission.completed":
			t.Errorf("a completed event without the final document: %s", ev.Data)
		case "iseed.submission.failed":
			var s publisher.Status
			if err := json.Unmarshal(ev.Data, &s); err != nil || s.StatoRichiesta != visengine.StateFulfilled || len(s.Errors) != 1 || s.Errors[0].Message != r.Errors[0].Message {
				t.Errorf("failed event: got %s, want stato_richiesta %q and the record's error", ev.Data, visengine.StateFulfilled)
			}
		}
	}
	for _, d := range pipetest.DocumentEvents(t, h.Events("emp-nodoc")) {
		if d.Final {
			t.Errorf("a final document event: %+v", d)
		}
	}
}

// TestConcurrentRefreshesStoreADocumentOnce: a callback's refresh and a
// poll (here eight refreshes at once) that find the same document each
// download it; it is stored once. A second Put of the same name gives the
// object new chunks and purges the old ones under a tenant reading it
// after its event (seen: a get of 0 bytes after a timeout).
func TestConcurrentRefreshesStoreADocumentOnce(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 10 * time.Millisecond},
		tracker: tracking.Config{Schedule: []time.Duration{time.Hour}}})
	tr := h.newTracker(nil) // refreshed by hand: it does not poll
	reqID := h.openTrackedRequest(tr, "emp-race")
	ctx := context.Background()
	pipetest.WaitFor(t, 10*time.Second, "the request fulfilled upstream", func() bool {
		r, err := h.Client.Richiesta(ctx, reqID)
		return err == nil && r.StatoRichiesta == visengine.StateFulfilled
	})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			<-start
			if err := tr.Refresh(ctx, pipetest.Tenant, "emp-race"); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	r := h.Record("emp-race")
	if r.State != record.StateCompleted || r.Document == nil {
		t.Fatalf("record: %s, document %v; want completed with its document", r.State, r.Document)
	}
	st, err := h.NATS.JS.Stream(ctx, "OBJ_"+h.Res.Layout.TenantDocumentsBucket(pipetest.Tenant))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One small document: one chunk and its meta, written once.
	if info.State.LastSeq != 2 || info.State.NumDeleted != 0 {
		t.Errorf("documents stream: %d messages written, %d deleted; want 2 and 0 (stored once)", info.State.LastSeq, info.State.NumDeleted)
	}
}

// oneDocument serves the same document in every state.
type oneDocument struct {
	*visengine.Client
	body []byte
}

func (c oneDocument) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	n, err := w.Write(c.body)
	return &visengine.Document{Nome: "attestazione.pdf", Dimensione: int64(len(c.body)), Written: int64(n)}, err
}

// TestAnObjectLeftByAFailedPutIsStoredAgain: a put whose meta landed but
// whose chunk acks came late or not at all (a slow, lossy link) fails, and
// nats.go purges the chunks it sent; the name stays, naming nothing. The
// retry must not take that name for the stored document (seen in the chaos
// suite: the record and events said stored, every get timed out).
func TestAnObjectLeftByAFailedPutIsStoredAgain(t *testing.T) {
	body := []byte("%PDF-1.4 attestazione ISEE, once broken")
	h := newTrackHarness(t, fastTracking(50*time.Millisecond))
	h.upstream = oneDocument{h.Client, body}
	ctx := context.Background()
	sum := sha256.Sum256(body)
	hexSum := hex.EncodeToString(sum[:])
	obs, err := layout.EnsureTenantDocuments(ctx, h.NATS.JS, h.Res.Layout, pipetest.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	name := tracking.DocumentObject(pipetest.Tenant, "emp-broken", hexSum, "attestazione.pdf")
	info, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: map[string]string{tracking.DocMetaSHA256: hexSum}}, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.NATS.JS.Stream(ctx, "OBJ_"+info.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject("$O."+info.Bucket+".C."+info.NUID)); err != nil {
		t.Fatal(err) // what nats.go's Put does to its chunks when it fails
	}

	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-broken", pipetest.ValidFields("Mario")), nil)
	r := h.waitClosed("emp-broken", 20*time.Second)
	// The final document has a name of its own when the receipt, the same
	// bytes, was stored under this one (then the receipt's put mended it).
	final := tracking.FinalDocumentObject(pipetest.Tenant, "emp-broken", hexSum, "attestazione.pdf")
	if r.Document == nil || r.Document.Object != name && r.Document.Object != final {
		t.Fatalf("stored document: got %+v, want %s or %s", r.Document, name, final)
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got bytes.Buffer
	if _, err := tracking.FetchDocument(gctx, h.NATS.JS, h.Res, pipetest.Tenant, "emp-broken", nil, &got); err != nil {
		t.Fatalf("the document the record names: %v", err)
	}
	if !bytes.Equal(got.Bytes(), body) {
		t.Errorf("object content: got %q, want %q", got.Bytes(), body)
	}
	if b, err := obs.GetBytes(gctx, name); err != nil || !bytes.Equal(b, body) {
		t.Errorf("object %s: got %q, %v; want it stored again whole", name, b, err)
	}
}

// renamedDocument serves the same bytes in every state, under a name of
// the state's: the receipt's in "Dati disponibili", another in "Visura
// evasa".
type renamedDocument struct {
	*visengine.Client
	body []byte
}

func (c renamedDocument) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	r, err := c.Richiesta(ctx, id)
	if err != nil {
		return nil, err
	}
	nome := "ricevuta.pdf"
	if r.StatoRichiesta == visengine.StateFulfilled {
		nome = "attestazione.pdf"
	}
	n, err := w.Write(c.body)
	return &visengine.Document{Nome: nome, Dimensione: int64(len(c.body)), Written: int64(n)}, err
}

// TestFinalDocumentSameAsTheReceiptIsStoredAnew: documents expire
// ISEED_DOCUMENT_TTL after they are stored (the bucket's max age). A final
// document with the receipt's bytes that named the receipt's object would
// expire that long after the receipt was stored, days or weeks before the
// tenant, told by the final event, expects: the object the final event and
// the record name must be stored after the receipt was announced, and the
// receipt's object, announced to the tenant, is left as it was.
func TestFinalDocumentSameAsTheReceiptIsStoredAnew(t *testing.T) {
	body := []byte("%PDF-1.4 ricevuta DSU e attestazione ISEE, gli stessi byte")
	tests := []struct {
		name     string
		upstream func(*visengine.Client) tracking.Upstream
	}{
		{"under the receipt's name", func(c *visengine.Client) tracking.Upstream { return oneDocument{c, body} }},
		{"under a name of its own", func(c *visengine.Client) tracking.Upstream { return renamedDocument{c, body} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each state lasts a second: the receipt is fetched in "Dati
			// disponibili" before the request moves on.
			h := newTrackHarness(t, fastTracking(time.Second))
			h.upstream = tt.upstream(h.Client)
			tr := h.newTracker(nil)
			h.runTracker(tr)
			h.startPipeline(tr, false)
			h.Publish(pipetest.Submission("emp-same", pipetest.ValidFields("Mario")), nil)
			r := h.waitClosed("emp-same", 20*time.Second)
			if r.State != record.StateCompleted {
				t.Fatalf("state: got %q, want %q", r.State, record.StateCompleted)
			}
			evs := h.Events("emp-same")
			docs := pipetest.CheckDocuments(t, evs, r)
			var receipt, final *publisher.DocumentReady
			var receiptAt, finalAt time.Time
			for _, ev := range evs {
				if ev.Type != publisher.TypeDocumentReady {
					continue
				}
				var d publisher.DocumentReady
				if err := json.Unmarshal(ev.Data, &d); err != nil {
					t.Fatal(err)
				}
				if d.Final {
					final, finalAt = &d, ev.Time
				} else {
					receipt, receiptAt = &d, ev.Time
				}
			}
			if receipt == nil || final == nil {
				t.Fatalf("document events: got %+v, want the receipt's and the final one's", docs)
			}
			ctx := context.Background()
			bucket := h.documentsBucket(pipetest.Tenant)
			fi, err := bucket.GetInfo(ctx, final.Object)
			if err != nil {
				t.Fatalf("the final document's object: %v", err)
			}
			if !fi.ModTime.After(receiptAt) {
				t.Errorf("the final document's object %s was stored at %s, before the receipt was announced (%s): it expires "+
					"with the receipt, %s before ISEED_DOCUMENT_TTL after its final event (%s)",
					final.Object, fi.ModTime.Format(time.RFC3339Nano), receiptAt.Format(time.RFC3339Nano),
					finalAt.Sub(fi.ModTime).Round(time.Millisecond), finalAt.Format(time.RFC3339Nano))
			}
			if final.Object == receipt.Object {
				t.Errorf("the final document names the receipt's object %s: storing it again there would purge the chunks under a tenant reading the receipt", receipt.Object)
			}
			ri, err := bucket.GetInfo(ctx, receipt.Object)
			if err != nil {
				t.Fatalf("the receipt's object: %v", err)
			}
			if !ri.ModTime.Before(fi.ModTime) {
				t.Errorf("the receipt's object was stored at %s, not before the final document's (%s)", ri.ModTime, fi.ModTime)
			}
			var got bytes.Buffer
			if _, err := tracking.FetchDocument(ctx, h.NATS.JS, h.Res, pipetest.Tenant, "emp-same", nil, &got); err != nil || !bytes.Equal(got.Bytes(), body) {
				t.Errorf("the record's document: got %q, %v; want %q", got.Bytes(), err, body)
			}
		})
	}
}
