package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// A request tracking gave up on, whose record was then scrubbed (iseed
// erase, a person's erasure request), is not overridden when the upstream
// fulfils it after all: the callback is answered and nothing of the
// person comes back, neither the certificate in the documents bucket nor
// completed and document events; the record stays failed with gave_up,
// scrubbed. Before, the override stored the document and announced it
// again, and the docs said to erase it again.
func TestAScrubbedGiveUpIsNotOverridden(t *testing.T) {
	g := newGiveUpRace(t, nil, nil)
	g.scrubGivenUp()
	ctx := context.Background()

	if code := g.postCallback(raceID, g.callbacks.Secret(pipetest.Tenant, raceID)); code != http.StatusOK {
		t.Errorf("the callback of the fulfilled request: got %d, want 200", code)
	}
	// A second callback the same way: had the first stored anything, the
	// second finds it (the refresh runs before the answer).
	if code := g.postCallback(raceID, g.callbacks.Secret(pipetest.Tenant, raceID)); code != http.StatusOK {
		t.Errorf("the callback again: got %d, want 200", code)
	}

	r := g.Record(raceID)
	if r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp || r.Scrubbed.IsZero() || r.Document != nil {
		t.Errorf("record: state %s, reason %q, scrubbed %v, document %+v; want failed gave_up, scrubbed, no document", r.State, r.Reason, r.Scrubbed, r.Document)
	}
	if got, want := g.statusTypes(), []string{"failed"}; !slices.Equal(got, want) {
		t.Errorf("events: got %v, want %v", got, want)
	}
	// The tenant's documents bucket is made with its first document: none
	// is the answer wanted.
	var names []*jetstream.ObjectInfo
	obs, err := g.NATS.JS.ObjectStore(ctx, g.Res.Layout.TenantDocumentsBucket(pipetest.Tenant))
	if err == nil {
		names, err = obs.List(ctx)
	}
	if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatal(err)
	}
	for _, o := range names {
		if strings.Contains(o.Name, raceID) && !o.Deleted {
			t.Errorf("a document of the erased submission is stored: %s", o.Name)
		}
	}
}

// An erasure that comes while a callback's refresh downloads the final
// document of a request tracking gave up on (the override has no
// tracking task, which iseed erase waits for): the refresh stores the
// document after erase's sweeps, then finds the record scrubbed, and
// removes the document it stored, its deletion marker too; nothing is
// announced. Before, the document stayed until its TTL.
func TestAnOverrideRacingAnErasureLeavesNothing(t *testing.T) {
	g, up := downloading(t, nil)
	g.scrubGivenUp() // what iseed erase does, its sweeps done before the download ends
	ctx := context.Background()
	up.open()
	g.checkAnswered()

	r := g.Record(raceID)
	if r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp || r.Scrubbed.IsZero() || r.Document != nil {
		t.Errorf("record: state %s, reason %q, scrubbed %v, document %+v; want failed gave_up, scrubbed, no document", r.State, r.Reason, r.Scrubbed, r.Document)
	}
	for _, typ := range g.statusTypes() {
		if typ != "failed" {
			t.Errorf("events: got %v, want none but the give-up's failed", g.statusTypes())
			break
		}
	}
	infos, err := g.documentsBucket(pipetest.Tenant).List(ctx, jetstream.ListObjectsShowDeleted())
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatal(err)
	}
	for _, o := range infos {
		if strings.Contains(o.Name, raceID) {
			t.Errorf("the erased submission's document is in the bucket (deleted %v): %s", o.Deleted, o.Name)
		}
	}
}

// scrubGivenUp lets tracking give up on emp-race (its first poll), waits
// until its task is acknowledged, and scrubs its record as iseed erase
// does.
func (g *giveUpRace) scrubGivenUp() {
	g.T.Helper()
	g.runTracker(g.tr)
	g.waitGaveUp(true)
	pipetest.WaitFor(g.T, 10*time.Second, "the give-up's task to be acknowledged", func() bool { return g.openTasks() == 0 })
	ctx := context.Background()
	store := record.NewStore(g.Res.Records)
	rec, rev, err := store.Get(ctx, pipetest.Tenant, raceID)
	if err != nil {
		g.T.Fatal(err)
	}
	if !rec.Scrub(time.Now()) {
		g.T.Fatal("the gave_up record had nothing to scrub")
	}
	if _, err := store.Update(ctx, rec, rev); err != nil {
		g.T.Fatal(err)
	}
}
