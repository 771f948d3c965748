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
// document's event.
type raceOnFinal struct {
	Events
	once sync.Once
	race func()
}

func (e *raceOnFinal) DocumentReady(ctx context.Context, d publisher.DocumentReady) error {
	if d.Final && e.race != nil {
		e.once.Do(e.race)
	}
	return e.Events.DocumentReady(ctx, d)
}

// TestFinalDocumentRacingItsReceiptTakesTheFinalName: a catch-up storing
// the final document (Visura evasa) names it from the record it read
// before the download. When another catch-up (a callback's refresh beside
// a poll, another replica) writes the receipt, the same bytes, as the
// record's document meanwhile, the final document must not end under the
// receipt's object: it is stored again under FinalDocumentObject, from the
// file downloaded once, and the record and its event name that object.
func TestFinalDocumentRacingItsReceiptTakesTheFinalName(t *testing.T) {
	tests := []struct {
		name string
		// during: the receipt is written while the final document
		// downloads; else just before the final document's event, after
		// the catch-up read the record again.
		during bool
	}{
		{"the receipt written while the final document downloads", true},
		{"the receipt written before the final document's event", false},
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
			events := &raceOnFinal{Events: publisher.New(h.NATS.JS, publisher.Config{})}
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
			if _, err := tr.catchUp(ctx, rec, rev, &visengine.Richiesta{StatoRichiesta: visengine.StateFulfilled}); err != nil {
				t.Fatalf("the final document's catch-up: %v", err)
			}

			got := h.Record(id)
			sum := got.Document.SHA256
			receiptObject := DocumentObject(pipetest.Tenant, id, sum, "attestazione.pdf")
			want := FinalDocumentObject(pipetest.Tenant, id, sum, "attestazione.pdf")
			if got.State != record.StateCompleted || got.Document.Stato != visengine.StateFulfilled || got.Document.Object != want {
				t.Errorf("record: state %s, document %+v; want completed with the final document under %q", got.State, got.Document, want)
			}
			docs := pipetest.DocumentEvents(t, h.Events(id))
			var finals int
			for _, d := range docs {
				switch {
				case !d.Final && d.Object != receiptObject:
					t.Errorf("receipt event names %q, want %q", d.Object, receiptObject)
				case d.Final:
					finals++
					// Published before the receipt was written, it was
					// right for the record it read; its id (the digest
					// and final) deduplicates it again.
					if tt.during && d.Object != want {
						t.Errorf("final document event names %q, want %q", d.Object, want)
					}
				}
			}
			if len(docs) != 2 || finals != 1 {
				t.Errorf("document events %+v: want the receipt's and one final", docs)
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
			if n := up.downloads.Load(); n != 2 {
				t.Errorf("downloads: got %d, want 2 (the receipt's and the final document's, once)", n)
			}
		})
	}
}
