package tracking

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// DocumentState is what the documents bucket says of the object a record
// names: kept, or gone and since when.
type DocumentState struct {
	// Gone: the bucket holds no such object any more. Its TTL
	// (ISEED_DOCUMENT_TTL) deleted it, or an operator did, or the bucket
	// was deleted (iseed makes it anew, empty).
	Gone bool
	// DeletedAt is when the object was deleted, when the bucket says so:
	// a deletion by hand leaves a marker with its time (until the TTL
	// removes the marker too). Zero otherwise.
	DeletedAt time.Time
	// ExpiredAt is when the bucket's TTL deleted the object, when the
	// bucket keeps no trace of it, the record says when it was stored
	// (DocumentRef.Stored) and that is past: Stored plus the TTL. Zero
	// otherwise.
	ExpiredAt time.Time
	// ExpiredAbout is the same estimated for a record that does not say
	// when its document was stored (written before DocumentRef.Stored
	// existed): TTL after the record entered the state its document was
	// fetched in (data_ready, completed), which is about when the document
	// was stored. Zero otherwise.
	ExpiredAbout time.Time
	// ExpiresAt is when the bucket's TTL will delete a kept object: the
	// TTL after the server stored it (its info's time). Zero when the
	// object is gone, the bucket has no TTL, or its TTL cannot be read.
	ExpiresAt time.Time
	// TTL is the bucket's (its stream's MaxAge), read for a kept object
	// and for one gone without a trace; zero when not read.
	TTL time.Duration
}

// CheckDocument asks the documents bucket whether the document rec names
// is still kept, at now, and until when: the object's info, with one
// request beside the bucket's, and one for its TTL unless the object was
// deleted by hand. A
// scrubbed record, whose object name lost its file name, has its bucket
// listed as FetchDocument does. An error means the bucket could not be
// asked and whether the document is kept is unknown: it is never taken for
// gone. Errors name the bucket, never the object (its file name is the
// upstream's). A record without a document is ErrNoDocument.
func CheckDocument(ctx context.Context, js jetstream.JetStream, rec *record.Record, now time.Time) (DocumentState, error) {
	ref := rec.Document
	if ref == nil {
		return DocumentState{}, ErrNoDocument
	}
	obs, err := js.ObjectStore(ctx, ref.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return DocumentState{Gone: true}, nil // deleted with its bucket
	}
	if err != nil {
		return DocumentState{}, fmt.Errorf("document bucket %s: %w", ref.Bucket, err)
	}
	name := ref.Object
	if record.ScrubbedName(name) {
		if name, err = scrubbedObject(ctx, obs, name); err != nil {
			return DocumentState{}, fmt.Errorf("document bucket %s: listing: %w", ref.Bucket, err)
		}
		if name == "" {
			return expired(ctx, obs, rec, now), nil
		}
	}
	info, err := obs.GetInfo(ctx, name, jetstream.GetObjectInfoShowDeleted())
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound), errors.Is(err, jetstream.ErrBucketNotFound):
		return expired(ctx, obs, rec, now), nil
	case err != nil:
		return DocumentState{}, fmt.Errorf("document bucket %s: the object's info: %w", ref.Bucket, err)
	case info.Deleted:
		return DocumentState{Gone: true, DeletedAt: info.ModTime}, nil
	}
	return kept(ctx, obs, info), nil
}

// kept is the state of a document obs still keeps, info: with the
// bucket's TTL, and when that runs out, when it can be told.
func kept(ctx context.Context, obs jetstream.ObjectStore, info *jetstream.ObjectInfo) DocumentState {
	var st DocumentState
	status, err := obs.Status(ctx)
	if err != nil {
		return st // kept all the same; only until when is not known
	}
	if st.TTL = status.TTL(); st.TTL > 0 {
		st.ExpiresAt = info.ModTime.Add(st.TTL)
	}
	return st
}

// expired is the state of rec's document, gone from obs without a trace:
// with the bucket's TTL, and when that ran out, when it can be told:
// exactly when the record says when the document was stored, else about.
func expired(ctx context.Context, obs jetstream.ObjectStore, rec *record.Record, now time.Time) DocumentState {
	st := DocumentState{Gone: true}
	status, err := obs.Status(ctx)
	if err != nil {
		return st // gone all the same; only its time is not known
	}
	st.TTL = status.TTL()
	if stored := rec.Document.Stored; !stored.IsZero() {
		if st.TTL > 0 && !stored.Add(st.TTL).After(now) {
			st.ExpiredAt = stored.Add(st.TTL)
		}
		return st
	}
	taken := documentTaken(rec)
	if st.TTL > 0 && !taken.IsZero() && !taken.Add(st.TTL).After(now) {
		st.ExpiredAbout = taken.Add(st.TTL)
	}
	return st
}

// documentTaken is when rec last entered the state its document was
// fetched in, about when the document was stored (the zero time when the
// timeline does not say).
func documentTaken(rec *record.Record) time.Time {
	switch rec.Document.Stato {
	case visengine.StateFulfilled:
		return rec.EnteredAt(record.StateCompleted)
	case visengine.StateDataReady:
		return rec.EnteredAt(record.StateDataReady)
	}
	return time.Time{}
}
