package tracking

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// sameDocument serves one document, the same bytes in every state (as the
// friendly simulator does for the receipt and the certificate), and runs
// race, once, inside the first download, before its bytes.
type sameDocument struct {
	body      []byte
	downloads atomic.Int32
	race      func()
}

func (u *sameDocument) Richiesta(context.Context, string) (*visengine.Richiesta, error) {
	return nil, errors.New("not polled in this test")
}

func (u *sameDocument) Documento(_ context.Context, _ string, w io.Writer) (*visengine.Document, error) {
	if u.downloads.Add(1) == 1 && u.race != nil {
		u.race()
	}
	n, err := w.Write(u.body)
	return &visengine.Document{Nome: "attestazione.pdf", Dimensione: int64(n), Written: int64(n)}, err
}

// raceOnFinal publishes events, and runs race, once, before the final
// document's event. With crash, the first event under an id of its own
// (FinalDocumentEventID's) fails, as if the process stopped before it.
type raceOnFinal struct {
	Events
	once    sync.Once
	race    func()
	crash   bool
	crashed atomic.Bool
}

func (e *raceOnFinal) DocumentReady(ctx context.Context, d publisher.DocumentReady) error {
	if d.Final && e.race != nil {
		e.once.Do(e.race)
	}
	if e.crash && d.EventID != "" && e.crashed.CompareAndSwap(false, true) {
		return errors.New("stopped before the event")
	}
	return e.Events.DocumentReady(ctx, d)
}

// TestFinalDocumentRacingItsReceiptTakesTheFinalName: a catch-up storing
// the final document (Visura evasa) names it from the record it read
// before the download. When another catch-up (a callback's refresh beside
// a poll, another replica) writes the receipt, the same bytes, as the
// record's document meanwhile, the final document must not end under the
// receipt's object: it is stored again under FinalDocumentObject, from the
// file downloaded once, and the record names that object. So does the
// final document's last event, the one a consumer acts on: when the first
// went out naming the receipt's object (the receipt written just before
// it), a second follows under an id of its own (FinalDocumentEventID),
// which the first's does not deduplicate away; a process stopped before
// the second leaves the record naming the receipt, and the redelivered
// catch-up publishes it.
func TestFinalDocumentRacingItsReceiptTakesTheFinalName(t *testing.T) {
	tests := []struct {
		name string
		// during: the receipt is written while the final document
		// downloads; else just before the final document's event, after
		// the catch-up read the record again.
		during bool
		// crash: the catch-up stops before the final name's event, and
		// runs again (the tracking task redelivered).
		crash bool
	}{
		{"the receipt written while the final document downloads", true, false},
		{"the receipt written before the final document's event", false, false},
		{"the receipt written before the final document's event, stopped before the second", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := pipetest.New(t)
			ctx := context.Background()
			const id = "emp-race"
			h.PutRecord(id, pipetest.ValidFields("Mario"), func(r *record.Record) {
				r.RequestID = "r-race"
				r.To(record.StateSubmitted, time.Now(), "")
			})
			up := &sameDocument{body: bytes.Repeat([]byte("%PDF-1.7 attestazione "), 100)}
			events := &raceOnFinal{Events: publisher.New(h.NATS.JS, publisher.Config{}), crash: tt.crash}
			tr, err := New(Config{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
				Deps{Resources: h.Res, Upstream: up, Events: events, Publisher: h.NATS.JS})
			if err != nil {
				t.Fatal(err)
			}
			store := record.NewStore(h.Res.Records)
			receipt := func() {
				// The other catch-up: it read the upstream in Dati
				// disponibili, and the record as it is now.
				rec, rev, err := store.Get(ctx, pipetest.Tenant, id)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := tr.catchUp(ctx, rec, rev, &visengine.Richiesta{StatoRichiesta: visengine.StateDataReady}); err != nil {
					t.Errorf("the receipt's catch-up: %v", err)
				}
			}
			if tt.during {
				up.race = receipt
			} else {
				events.race = receipt
			}

			rec, rev, err := store.Get(ctx, pipetest.Tenant, id)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tr.catchUp(ctx, rec, rev, &visengine.Richiesta{StatoRichiesta: visengine.StateFulfilled})
			if tt.crash {
				if err == nil || !events.crashed.Load() {
					t.Fatalf("the final document's catch-up: error %v, stopped %v; want it stopped before the second event", err, events.crashed.Load())
				}
				if rec, rev, err = store.Get(ctx, pipetest.Tenant, id); err != nil {
					t.Fatal(err)
				}
				_, err = tr.catchUp(ctx, rec, rev, &visengine.Richiesta{StatoRichiesta: visengine.StateFulfilled})
			}
			if err != nil {
				t.Fatalf("the final document's catch-up: %v", err)
			}

			got := h.Record(id)
			sum := got.Document.SHA256
			receiptObject := DocumentObject(pipetest.Tenant, id, sum, "attestazione.pdf")
			want := FinalDocumentObject(pipetest.Tenant, id, sum, "attestazione.pdf")
			if got.State != record.StateCompleted || got.Document.Stato != visengine.StateFulfilled || got.Document.Object != want {
				t.Errorf("record: state %s, document %+v; want completed with the final document under %q", got.State, got.Document, want)
			}
			evs := h.Events(id)
			docs := pipetest.DocumentEvents(t, evs)
			var finals []publisher.DocumentReady
			var finalIDs []string
			for i, d := range docs {
				switch {
				case !d.Final && d.Object != receiptObject:
					t.Errorf("receipt event names %q, want %q", d.Object, receiptObject)
				case d.Final:
					finals = append(finals, d)
					finalIDs = append(finalIDs, documentEventIDs(evs)[i])
				}
			}
			// Published before the receipt was written, the first final
			// event named the receipt's object, right for the record it
			// read: the event a consumer acts on, the last final one,
			// names the object the record ends on, under an id of its own.
			wantFinals := 2
			if tt.during {
				wantFinals = 1 // read again before its event: named right at once
			}
			if len(docs) != 1+wantFinals || len(finals) != wantFinals {
				t.Errorf("document events %+v: want the receipt's and %d final", docs, wantFinals)
			}
			if n := len(finals); n > 0 {
				wantID := FinalDocumentEventID(pipetest.Tenant, id, sum)
				if last := finals[n-1]; last.Object != want || finalIDs[n-1] != wantID {
					t.Errorf("last final document event %s names %q, want %s naming %q", finalIDs[n-1], last.Object, wantID, want)
				}
				if n > 1 && (finals[0].Object != receiptObject || finalIDs[0] != publisher.DocumentEventID(pipetest.Tenant, id, sum, true)) {
					t.Errorf("first final document event %s names %q, want the receipt's", finalIDs[0], finals[0].Object)
				}
			}
			bucket, err := tr.documents(ctx, pipetest.Tenant)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{receiptObject, want} {
				if b, err := bucket.GetBytes(ctx, name); err != nil || !bytes.Equal(b, up.body) {
					t.Errorf("object %q: %d bytes (error %v), want the document", name, len(b), err)
				}
			}
			// When the final object was stored, as the server recorded it:
			// the redelivered catch-up found it stored and put nothing.
			if info, err := bucket.GetInfo(ctx, want); err != nil || !got.Document.Stored.Equal(info.ModTime) {
				t.Errorf("record: document stored %v, want the final object's time (%+v, %v)", got.Document.Stored, info, err)
			}
			wantDownloads := int32(2) // the receipt's and the final document's, once
			if tt.crash {
				wantDownloads = 3 // and again by the redelivered catch-up
			}
			if n := up.downloads.Load(); n != wantDownloads {
				t.Errorf("downloads: got %d, want %d", n, wantDownloads)
			}
		})
	}
}

// documentEventIDs returns the ids of the document-ready events among evs,
// in order.
func documentEventIDs(evs []publisher.Event) []string {
	var ids []string
	for _, ev := range evs {
		if ev.Type == publisher.TypeDocumentReady {
			ids = append(ids, ev.ID)
		}
	}
	return ids
}
