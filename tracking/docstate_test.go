package tracking

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// TestCheckDocument: what CheckDocument says of a record's document, asked
// of a real bucket: kept; deleted by hand, at the time its bucket
// recorded; gone without a trace, about the bucket's TTL after the record
// entered the state its document was fetched in, or at a time not known
// when that is not past; gone with its bucket; and a scrubbed record's,
// whose object name lost its file name, found or not by listing.
func TestCheckDocument(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	const bucket = "docs"
	obs, err := srv.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket, TTL: 720 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"acme/kept/0123/a.pdf", "acme/deleted/0123/a.pdf", "acme/scrubbed/0123/a.pdf"} {
		if _, err := obs.PutString(ctx, name, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := obs.Delete(ctx, "acme/deleted/0123/a.pdf"); err != nil {
		t.Fatal(err)
	}
	marker, err := obs.GetInfo(ctx, "acme/deleted/0123/a.pdf", jetstream.GetObjectInfoShowDeleted())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	long := now.Add(-800 * time.Hour) // completed longer ago than the TTL
	tests := []struct {
		name         string
		bucket, obj  string
		stato        string
		completed    time.Time
		gone         bool
		deletedAt    time.Time
		expiredAbout time.Time
		ttl          time.Duration
	}{
		{"kept", bucket, "acme/kept/0123/a.pdf", visengine.StateFulfilled, now, false, time.Time{}, time.Time{}, 0},
		{"deleted by hand", bucket, "acme/deleted/0123/a.pdf", visengine.StateFulfilled, now, true, marker.ModTime, time.Time{}, 0},
		{"past the TTL", bucket, "acme/expired/0123/a.pdf", visengine.StateFulfilled, long, true, time.Time{}, long.Add(720 * time.Hour), 720 * time.Hour},
		{"gone before the TTL: when not known", bucket, "acme/expired/0123/a.pdf", visengine.StateFulfilled, now, true, time.Time{}, time.Time{}, 720 * time.Hour},
		{"fetched in a state the timeline lacks: when not known", bucket, "acme/expired/0123/a.pdf", visengine.StateDataReady, long, true, time.Time{}, time.Time{}, 720 * time.Hour},
		{"gone with its bucket", "nobucket", "acme/kept/0123/a.pdf", visengine.StateFulfilled, long, true, time.Time{}, time.Time{}, 0},
		{"scrubbed, kept", bucket, record.ScrubbedObject("acme/scrubbed/0123/a.pdf"), visengine.StateFulfilled, now, false, time.Time{}, time.Time{}, 0},
		{"scrubbed, gone", bucket, record.ScrubbedObject("acme/expired/0123/a.pdf"), visengine.StateFulfilled, long, true, time.Time{}, long.Add(720 * time.Hour), 720 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &record.Record{Tenant: "acme", ID: "x", Document: &record.DocumentRef{Bucket: tt.bucket, Object: tt.obj, Stato: tt.stato}}
			rec.To(record.StateCompleted, tt.completed, "")
			got, err := CheckDocument(ctx, srv.JS, rec, now)
			want := DocumentState{Gone: tt.gone, DeletedAt: tt.deletedAt, ExpiredAbout: tt.expiredAbout, TTL: tt.ttl}
			if err != nil || got.Gone != want.Gone || !got.DeletedAt.Equal(want.DeletedAt) || !got.ExpiredAbout.Equal(want.ExpiredAbout) || got.TTL != want.TTL {
				t.Errorf("got %+v, %v; want %+v", got, err, want)
			}
		})
	}
	if _, err := CheckDocument(ctx, srv.JS, &record.Record{}, now); !errors.Is(err, ErrNoDocument) {
		t.Errorf("a record without a document: got %v, want ErrNoDocument", err)
	}
	// A bucket that cannot be asked: an error, never gone.
	nc, js := natstest.Connect(t, srv.ClientURL())
	nc.Close()
	rec := &record.Record{Tenant: "acme", ID: "x", Document: &record.DocumentRef{Bucket: bucket, Object: "acme/expired/0123/a.pdf", Stato: visengine.StateFulfilled}}
	rec.To(record.StateCompleted, long, "")
	if got, err := CheckDocument(ctx, js, rec, now); err == nil || got.Gone {
		t.Errorf("over a closed connection: got %+v, %v; want an error and not gone", got, err)
	}
}
