package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEraseDeletesChunksLeftUnderAMarker: an object store delete writes
// its marker first and then purges the object's chunks. One whose purge
// failed (a run of iseed erase cut short, the tracker's unstore) left the
// document's bytes under the marker's NUID, and a later erase, finding
// the object deleted already, only purged the marker: the bytes stayed
// until the bucket's maximum age. Erase deletes such an object again,
// which purges them.
func TestEraseDeletesChunksLeftUnderAMarker(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	const bucket, name = "iseed_documents_acme", "acme/emp-erased/0a1b2c3d4e5f6a7b/DSU.pdf"
	obs, err := srv.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.PutBytes(ctx, name, []byte("%PDF-1.7 ISEE of the person to forget"))
	if err != nil {
		t.Fatal(err)
	}
	// The marker of a delete whose purge of the chunks never came.
	marker := *info
	marker.Deleted, marker.Size, marker.Chunks, marker.Digest = true, 0, 0, ""
	m := nats.NewMsg(layout.ObjectMetaSubject(bucket, name))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if m.Data, err = json.Marshal(marker); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.JS.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	st, err := srv.JS.Stream(ctx, "OBJ_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	chunks := "$O." + bucket + ".C." + info.NUID
	left := func() uint64 {
		t.Helper()
		si, err := st.Info(ctx, jetstream.WithSubjectFilter("$O."+bucket+".>"))
		if err != nil {
			t.Fatal(err)
		}
		return si.State.Subjects[chunks] + si.State.Subjects[layout.ObjectMetaSubject(bucket, name)]
	}
	if n := left(); n != 2 {
		t.Fatalf("before erase: %d messages of the object, want its chunk and its marker", n)
	}
	er := &eraser{c: &cliConn{js: srv.JS}, tenant: "acme"}
	n, err := er.deleteObjects(ctx, bucket, "acme/emp-erased/")
	if err != nil || n != 0 {
		t.Errorf("deleteObjects: %d, %v; want 0 documents counted (deleted before), no error", n, err)
	}
	if n := left(); n != 0 {
		t.Errorf("after erase: %d messages of the object left, its chunks or its marker; want none", n)
	}
}
