package main

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEraseMarksWhatItErases: iseed erase writes the record it erases with
// a new Scrubbed time even when nothing was left to remove (no metadata,
// no problem texts: it used to leave such a record as it was), and again
// when run again: the pipeline reads that time back to tell that a dead
// letter it stored meanwhile outlives an erasure (consumer/erased.go).
func TestEraseMarksWhatItErases(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	const tenant, id = "acme", "emp-bare"
	now := time.Now()
	rec := &record.Record{Tenant: tenant, ID: id, Fingerprint: "fp", Generation: 1, Created: now, Updated: now}
	rec.To(record.StateFailed, now, dlq.ReasonExpired)
	rec.Reason = dlq.ReasonExpired
	store, _ := createRecord(t, res.Records, rec)

	var last time.Time
	for run := 1; run <= 2; run++ {
		rep, errOut, code := runErase(t, "", "--tenant", tenant, id)
		if x := outcomes(rep)[id]; code != 0 || x.Outcome != nothingLeft || x.RecordScrubbed {
			t.Errorf("erase %d of a record with nothing to scrub: exit %d, %+v, stderr %q; want 0, nothing left, not scrubbed", run, code, x, errOut)
		}
		got, _, err := store.Get(ctx, tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Scrubbed.IsZero() || got.Scrubbed.Equal(last) {
			t.Errorf("erase %d: the record's scrubbed time is %v, want a new one (it was %v)", run, got.Scrubbed, last)
		}
		last = got.Scrubbed
	}
}

// onSubject counts the messages of stream st on subject.
func onSubject(t *testing.T, st jetstream.Stream, subject string) uint64 {
	t.Helper()
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// TestEraseAgainAfterScrub: a dead letter, an event and a document stored
// after iseed erase purged the submission's, before it scrubbed the
// record, are removed by its second sweep, after the scrub (the document:
// a give-up's override, tracking/erased.go).
func TestEraseAgainAfterScrub(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	const tenant, id = "acme", "emp-between"
	now := time.Now()
	rec := &record.Record{Tenant: tenant, ID: id, Fingerprint: "fp", Generation: 1,
		Metadata: json.RawMessage(`{"employee":"Mario Rossi"}`), Created: now, Updated: now}
	rec.To(record.StateRejected, now, "invalid")
	rec.Reason = "invalid"
	createRecord(t, res.Records, rec)

	q, c, err := openQueueOn(ctx, io.Discard, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	er := newEraser(c, q, tenant)
	var once sync.Once
	er.now = func() time.Time { // called as the record is scrubbed, after the first purge
		once.Do(func() {
			dl := dlq.DeadLetter{OriginalSubject: res.Layout.SubmissionSubject(tenant), StreamSeq: 1, Tenant: tenant,
				SubmissionID: id, Reason: "invalid", Generation: 1, FirstFailure: now, LastFailure: now}
			if err := dlq.Publish(ctx, srv.JS, res.Layout, dl, []byte(`{"id":"emp-between","fields":{"Nome":"Mario"}}`),
				dlq.MsgID(tenant, id, 1, "invalid")); err != nil {
				t.Error(err)
			}
			if _, err := srv.JS.Publish(ctx, res.Layout.Events().Status(tenant, id), []byte(`{"type":"rejected"}`)); err != nil {
				t.Error(err)
			}
			obs, err := layout.EnsureTenantDocuments(ctx, srv.JS, res.Layout, tenant)
			if err == nil {
				_, err = obs.PutBytes(ctx, tenant+"/"+id+"/0123456789abcdef/isee.pdf", []byte("%PDF certificate"))
			}
			if err != nil {
				t.Error(err)
			}
		})
		return time.Now()
	}
	x := erasure{Tenant: tenant, Submission: id}
	er.erase(ctx, &x, nil)
	if x.Outcome != erased || x.DeadLetters != 1 || x.EventMessages != 1 || x.Documents != 1 || !x.RecordScrubbed {
		t.Errorf("erase with a letter, an event and a document stored before the scrub: %+v; want erased, 1 dead letter, 1 event, 1 document, the record scrubbed", x)
	}
	docs, err := srv.JS.Stream(ctx, "OBJ_"+res.Layout.TenantDocumentsBucket(tenant))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := docs.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("documents bucket after the erasure: %v messages (%v), want none: no chunk, no deletion marker", info.State.Msgs, err)
	}
	if n := onSubject(t, res.DLQ, res.Layout.DLQSubject(tenant, id)); n != 0 {
		t.Errorf("dead letters left: got %d, want 0", n)
	}
	events, err := srv.JS.Stream(ctx, res.Layout.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	if n := onSubject(t, events, res.Layout.Events().Status(tenant, id)); n != 0 {
		t.Errorf("events left: got %d, want 0", n)
	}
}
