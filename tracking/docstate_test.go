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
// of a real bucket: kept, until the bucket's TTL after the server stored
// it; deleted by hand, at the time its bucket recorded; gone without a
// trace, at the bucket's TTL after the record says it was stored, or, in
// a record written before it said so, about the TTL after the record
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
	kept, err := obs.GetInfo(ctx, "acme/kept/0123/a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	scrubbed, err := obs.GetInfo(ctx, "acme/scrubbed/0123/a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 720 * time.Hour
	now := time.Now()
	long := now.Add(-800 * time.Hour) // longer ago than the TTL
	var zero time.Time
	tests := []struct {
		name        string
		bucket, obj string
		stato       string
		completed   time.Time
		stored      time.Time // the record's DocumentRef.Stored; zero: written before it existed
		want        DocumentState
	}{
		{"kept: until its TTL after the server stored it", bucket, "acme/kept/0123/a.pdf", visengine.StateFulfilled, long, long,
			DocumentState{ExpiresAt: kept.ModTime.Add(ttl), TTL: ttl}},
		{"kept, recorded before its time was", bucket, "acme/kept/0123/a.pdf", visengine.StateFulfilled, now, zero,
			DocumentState{ExpiresAt: kept.ModTime.Add(ttl), TTL: ttl}},
		{"deleted by hand", bucket, "acme/deleted/0123/a.pdf", visengine.StateFulfilled, now, now, DocumentState{Gone: true, DeletedAt: marker.ModTime}},
		{"past the TTL: its TTL after it was stored", bucket, "acme/expired/0123/a.pdf", visengine.StateFulfilled, now.Add(-10 * time.Hour), long,
			DocumentState{Gone: true, ExpiredAt: long.Add(ttl), TTL: ttl}},
		{"past the TTL, stored in data ready", bucket, "acme/expired/0123/a.pdf", visengine.StateDataReady, zero, long,
			DocumentState{Gone: true, ExpiredAt: long.Add(ttl), TTL: ttl}},
		{"stored less than the TTL ago: when not known", bucket, "acme/expired/0123/a.pdf", visengine.StateFulfilled, long, now,
			DocumentState{Gone: true, TTL: ttl}},
		{"past the TTL, recorded before its time was: about", bucket, "acme/expired/0123/a.pdf", visengine.StateFulfilled, long, zero,
			DocumentState{Gone: true, ExpiredAbout: long.Add(ttl), TTL: ttl}},
		{"gone before the TTL, recorded before its time was: when not known", bucket, "acme/expired/0123/a.pdf", visengine.StateFulfilled, now, zero,
			DocumentState{Gone: true, TTL: ttl}},
		{"fetched in a state the timeline lacks: when not known", bucket, "acme/expired/0123/a.pdf", visengine.StateDataReady, long, zero,
			DocumentState{Gone: true, TTL: ttl}},
		{"gone with its bucket", "nobucket", "acme/kept/0123/a.pdf", visengine.StateFulfilled, long, long, DocumentState{Gone: true}},
		{"scrubbed, kept", bucket, record.ScrubbedObject("acme/scrubbed/0123/a.pdf"), visengine.StateFulfilled, now, now,
			DocumentState{ExpiresAt: scrubbed.ModTime.Add(ttl), TTL: ttl}},
		{"scrubbed, gone", bucket, record.ScrubbedObject("acme/expired/0123/a.pdf"), visengine.StateFulfilled, now, long,
			DocumentState{Gone: true, ExpiredAt: long.Add(ttl), TTL: ttl}},
		{"scrubbed, gone, recorded before its time was", bucket, record.ScrubbedObject("acme/expired/0123/a.pdf"), visengine.StateFulfilled, long, zero,
			DocumentState{Gone: true, ExpiredAbout: long.Add(ttl), TTL: ttl}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &record.Record{Tenant: "acme", ID: "x", Document: &record.DocumentRef{Bucket: tt.bucket, Object: tt.obj, Stato: tt.stato, Stored: tt.stored}}
			if !tt.completed.IsZero() {
				rec.To(record.StateCompleted, tt.completed, "")
			}
			got, err := CheckDocument(ctx, srv.JS, rec, now)
			want := tt.want
			if err != nil || got.Gone != want.Gone || !got.DeletedAt.Equal(want.DeletedAt) || !got.ExpiredAt.Equal(want.ExpiredAt) ||
				!got.ExpiredAbout.Equal(want.ExpiredAbout) || !got.ExpiresAt.Equal(want.ExpiresAt) || got.TTL != want.TTL {
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
