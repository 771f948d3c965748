package tracking

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// TestStoringKeepsTheLastStartedDocumentTTL: every replica sets the
// documents buckets' ISEED_DOCUMENT_TTL when it starts, so the last
// started wins (README.md). A replica started before, with another TTL
// (a rolling update that shortens or lengthens it), set its own again on
// a tenant's bucket the first time it stored one of its documents: until
// the next start, that tenant's documents were kept longer than the
// deployment says (personal data), or deleted sooner (a lengthened TTL
// shortened again deletes every document older than the old one).
func TestStoringKeepsTheLastStartedDocumentTTL(t *testing.T) {
	h := pipetest.New(t) // replica A, ISEED_DOCUMENT_TTL at its default
	ctx := context.Background()
	const id = "emp-ttl"
	putInProgress(h, id, "r-ttl", time.Now())
	up := &readyUpstream{sameDocument{body: []byte("%PDF-1.7 ricevuta DSU")}}
	a, err := New(Config{TempDir: t.TempDir(), Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
		Deps{Resources: h.Res, Upstream: up, Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
	if err != nil {
		t.Fatal(err)
	}
	// The tenant's bucket, made by an earlier store.
	if _, err := layout.EnsureTenantDocuments(ctx, h.NATS.JS, h.Res.Layout, pipetest.Tenant); err != nil {
		t.Fatal(err)
	}
	// Replica B starts with a shorter TTL: it sets it on every bucket.
	lb := h.Res.Layout
	lb.DocumentTTL = 168 * time.Hour
	if _, err := layout.Ensure(ctx, h.NATS.JS, lb); err != nil {
		t.Fatal(err)
	}
	// Replica A, started before B, then stores the tenant's first document
	// since its start.
	rec := h.Record(id)
	s, err := a.download(ctx, rec, visengine.StateDataReady)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := a.storeDocument(ctx, rec, s); err != nil {
		t.Fatal(err)
	}
	obs, err := h.NATS.JS.ObjectStore(ctx, h.Res.Layout.TenantDocumentsBucket(pipetest.Tenant))
	if err != nil {
		t.Fatal(err)
	}
	st, err := obs.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.TTL(); got != lb.DocumentTTL {
		t.Errorf("the tenant's documents bucket's TTL: got %v, want %v (set by the replica started last)", got, lb.DocumentTTL)
	}
}
