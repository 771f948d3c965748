package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEraseWaitsForTracking: tracking closes a record first (gave_up),
// then stores its dead letter and publishes its events, then acks the
// task; a task that comes back after a crash, or while the dead-letter
// stream refuses the letter, does that later. iseed erase used to scrub
// such a record at once: the letter stored after the scrub could be
// replayed into the scrubbed record, and the events outlived their purge.
// While the track stream holds the submission's task, erase refuses it and
// changes nothing; once tracking is done with it, erase erases it.
func TestEraseWaitsForTracking(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	const tenant, id = "acme", "emp-gaveup"
	now := time.Now()
	rec := &record.Record{Tenant: tenant, ID: id, Fingerprint: "fp", Generation: 1, Attempts: 1, RequestID: "req-1",
		Metadata: json.RawMessage(`{"employee":"Mario Rossi"}`), Created: now, Updated: now}
	rec.To(record.StateFailed, now, dlq.ReasonGaveUp)
	rec.Reason = dlq.ReasonGaveUp
	store, rev := createRecord(t, res.Records, rec)
	// Its task, not yet acked: its dead letter and failed event are still
	// to be stored.
	task := `{"tenant":"acme","id":"emp-gaveup","generation":1,"request_id":"req-1"}`
	ack, err := srv.JS.Publish(ctx, res.Layout.TrackSubject(tenant, id), []byte(task))
	if err != nil {
		t.Fatal(err)
	}

	rep, errOut, code := runErase(t, "", "--tenant", tenant, id)
	if x := outcomes(rep)[id]; code != 1 || x.Outcome != refusedOpen || x.RecordScrubbed {
		t.Errorf("erase while tracking holds the task: exit %d, %+v, stderr %q; want 1, refused, the record not scrubbed", code, x, errOut)
	}
	if r, got, err := store.Get(ctx, tenant, id); err != nil || got != rev || !r.Scrubbed.IsZero() {
		t.Errorf("the record after a refused erase: revision %d, scrubbed %v (%v); want revision %d, not scrubbed", got, r.Scrubbed, err, rev)
	}

	// Tracking acks the task: erased.
	if err := res.Track.DeleteMsg(ctx, ack.Sequence); err != nil {
		t.Fatal(err)
	}
	rep, errOut, code = runErase(t, "", "--tenant", tenant, id)
	if x := outcomes(rep)[id]; code != 0 || x.Outcome != erased || !x.RecordScrubbed {
		t.Errorf("erase once tracking is done: exit %d, %+v, stderr %q; want 0, erased, the record scrubbed", code, x, errOut)
	}
}

// TestEraseNeedsTheDaemonsTaxCodeKey: a daemon given its tax-code key in
// ISEED_TAXCODE_KEY_FILE never writes one into the keys bucket. iseed erase
// --tax-code-stdin run without that variable used to take the missing key
// for "nothing was ever noted": it said the person had no ISEE history
// entry (exit 0) and left it, and erased their records without telling
// them from another person's. It refuses instead, erasing nothing, while
// the history has entries; given the key file, it deletes the entry.
func TestEraseNeedsTheDaemonsTaxCodeKey(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	const tenant, id, taxCode = "acme", "emp-keyed", "RSSMRA85T10A562S"
	key, err := readKeyFile("testdata/hmac.key", "ISEED_TAXCODE_KEY_FILE")
	if err != nil {
		t.Fatal(err)
	}
	h, err := tracking.NewHistory(res.History, nil, key, tracking.Services{})
	if err != nil {
		t.Fatal(err)
	}
	person := h.TaxCodeKey(tenant, taxCode)
	if _, err := res.History.Put(ctx, person, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec := &record.Record{Tenant: tenant, ID: id, Fingerprint: "fp", Generation: 1, PersonKey: person,
		Metadata: json.RawMessage(`{"employee":"Mario Rossi"}`), Created: now, Updated: now}
	rec.To(record.StateRejected, now, "invalid")
	rec.Reason = "invalid"
	store, rev := createRecord(t, res.Records, rec)

	out, errOut, code := runCLIInput(t, taxCode+"\n", "erase", "--yes", "-o", "json", "--tenant", tenant, "--tax-code-stdin", id)
	if code != 2 || !strings.Contains(errOut, "ISEED_TAXCODE_KEY_FILE") || strings.Contains(out+errOut, taxCode) {
		t.Errorf("erase without the daemon's key file: exit %d, stdout %q, stderr %q; want 2, naming ISEED_TAXCODE_KEY_FILE", code, out, errOut)
	}
	if _, got, err := store.Get(ctx, tenant, id); err != nil || got != rev {
		t.Errorf("the record after erase without the key: revision %d (%v), want %d: untouched", got, err, rev)
	}
	if _, err := res.History.Get(ctx, person); err != nil {
		t.Errorf("the history entry after erase without the key: %v, want it kept", err)
	}

	t.Setenv("ISEED_TAXCODE_KEY_FILE", "testdata/hmac.key")
	rep, errOut, code := runErase(t, taxCode+"\n", "--tenant", tenant, "--tax-code-stdin", id)
	if x := outcomes(rep)[id]; code != 0 || x.Outcome != erased || rep.History != historyDeleted {
		t.Errorf("erase with the key file: exit %d, %+v, history %q, stderr %q; want 0, erased, the entry deleted", code, x, rep.History, errOut)
	}
	if _, err := res.History.Get(ctx, person); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the history entry after erase with the key file: %v, want %v", err, jetstream.ErrKeyNotFound)
	}
}

// createRecord stores rec as a new record in records and returns the
// store and the record's revision.
func createRecord(t *testing.T, records jetstream.KeyValue, rec *record.Record) (*record.Store, uint64) {
	t.Helper()
	store := record.NewStore(records)
	if _, err := store.Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	_, rev, err := store.Get(context.Background(), rec.Tenant, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	return store, rev
}
