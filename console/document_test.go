package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSubmissionHidesTheDocumentName: the submission page names a stored
// document by its object without its file name, which is the upstream's
// nome and may name the person; only a file type's extension is shown.
// path.Ext of a name without one is whatever follows its last dot ("sig.ra
// Maria Rossi").
func TestSubmissionHidesTheDocumentName(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	now := time.Now()
	tests := []struct {
		id, nome string
		shown    string // the object as the page shows it
		hidden   string // the part of nome the page must not show
	}{
		{"doc-1", "Attestazione ISEE sig.ra Maria Rossi", "…</code>", "Maria Rossi"},
		{"doc-2", "ISEE_2026_M.Rossi", "…</code>", "Rossi"},
		{"doc-3", "DSU.RSSMRA80A01H501U", "…</code>", "RSSMRA80A01H501U"},
		{"doc-4", "Attestazione ISEE Maria Rossi.pdf", "….pdf</code>", "Maria Rossi"},
		{"doc-5", "5f22f5b5e3c14b2b.zip", "….zip</code>", "5f22f5b5e3c14b2b"},
	}
	for _, tt := range tests {
		sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		rec := &record.Record{Tenant: pipetest.Tenant, ID: tt.id, State: record.StateCompleted, Generation: 1, Created: now, Updated: now,
			RequestID: "req-" + tt.id, Document: &record.DocumentRef{Bucket: h.Res.Layout.TenantDocumentsBucket(pipetest.Tenant),
				Object: tracking.DocumentObject(pipetest.Tenant, tt.id, sum, tt.nome), Size: 10, SHA256: sum, ContentType: "application/pdf"}}
		rec.To(record.StateCompleted, now, "")
		if _, err := record.NewStore(h.Res.Records).Create(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		runCalls(t, s, []call{
			{name: tt.id + " object shown", method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=" + tt.id, status: 200,
				body: "/" + pipetest.Tenant + "/" + tt.id + "/0123456789abcdef/" + tt.shown},
			{name: tt.id + " file name hidden", method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=" + tt.id, status: 200,
				notBody: tt.hidden},
		}, nil, "")
	}
}

// putDocument puts data in obs as submission id's document (tenant acme)
// and creates its completed record, completed at done, naming it; with
// stored, the record says when the object was stored, as tracking writes
// it (else it is a record written before it did).
func putDocument(t *testing.T, h *pipetest.Harness, obs jetstream.ObjectStore, tenant, id string, data []byte, done time.Time, stored bool) *record.Record {
	t.Helper()
	sum := sha256.Sum256(data)
	ref := &record.DocumentRef{Bucket: h.Res.Layout.TenantDocumentsBucket(tenant), Object: tracking.DocumentObject(tenant, id, hex.EncodeToString(sum[:]), "ISEE.pdf"),
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), ContentType: "application/pdf", Stato: visengine.StateFulfilled}
	if _, err := obs.PutBytes(context.Background(), ref.Object, data); err != nil {
		t.Fatal(err)
	}
	if stored {
		info, err := obs.GetInfo(context.Background(), ref.Object)
		if err != nil {
			t.Fatal(err)
		}
		ref.Stored = info.ModTime.UTC()
	}
	rec := &record.Record{Tenant: tenant, ID: id, Generation: 1, Created: done, Updated: done, RequestID: "req-" + id, Document: ref}
	rec.To(record.StateCompleted, done, "")
	if _, err := record.NewStore(h.Res.Records).Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestSubmissionSaysADeletedDocumentIsNoLongerKept: a completed
// submission's record keeps naming its document once the bucket's TTL, or
// an operator, deleted it, and the submission page showed it as stored.
// The page asks the bucket: a kept document is shown kept until its TTL
// after it was stored, one deleted by hand is "No longer kept" since the
// time its bucket recorded, one the TTL removed without a trace since its
// TTL after its record says it was stored (about its TTL after the record
// completed, in a record that does not say). A bucket that cannot be read makes a problem saying that
// whether it is kept is unknown, never a deleted document.
func TestSubmissionSaysADeletedDocumentIsNoLongerKept(t *testing.T) {
	h := pipetest.New(t)
	ctx, now := context.Background(), time.Now()
	obs, err := layout.EnsureTenantDocuments(ctx, h.NATS.JS, h.Res.Layout, pipetest.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	kept := putDocument(t, h, obs, pipetest.Tenant, "doc-kept", []byte("kept"), now, true)
	deleted := putDocument(t, h, obs, pipetest.Tenant, "doc-deleted", []byte("deleted by hand"), now, true)
	if err := obs.Delete(ctx, deleted.Document.Object); err != nil {
		t.Fatal(err)
	}
	deletedAt, err := obs.GetInfo(ctx, deleted.Document.Object, jetstream.GetObjectInfoShowDeleted())
	if err != nil {
		t.Fatal(err)
	}
	// The TTL: a tenant whose bucket keeps objects a second.
	short := h.Res.Layout
	short.DocumentTTL = time.Second
	ttl, err := layout.EnsureTenantDocuments(ctx, h.NATS.JS, short, "brief")
	if err != nil {
		t.Fatal(err)
	}
	expired := putDocument(t, h, ttl, "brief", "doc-expired", []byte("expired"), time.Now(), false)
	// Stored an hour after its record completed (a download retried, a
	// replay): it expired its TTL after it was stored, not after that.
	stored := putDocument(t, h, ttl, "brief", "doc-expired-stored", []byte("expired, stored late"), time.Now().Add(-time.Hour), true)
	for _, r := range []*record.Record{expired, stored} {
		pipetest.WaitFor(t, 30*time.Second, "the bucket's TTL to delete the document", func() bool {
			_, err := ttl.GetInfo(ctx, r.Document.Object, jetstream.GetObjectInfoShowDeleted())
			return errors.Is(err, jetstream.ErrObjectNotFound)
		})
	}
	at := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

	s := newSite(t, h, "", nil)
	page := func(tenant, id string) string { return "/submission?tenant=" + tenant + "&id=" + id }
	runCalls(t, s, []call{
		{name: "kept", method: http.MethodGet, path: page(pipetest.Tenant, "doc-kept"), status: 200, body: "/doc-kept/", notBody: "No longer kept"},
		{name: "kept, until its TTL after it was stored", method: http.MethodGet, path: page(pipetest.Tenant, "doc-kept"), status: 200,
			body: `<dt>Kept until</dt><dd id="document-expires">` + at(kept.Document.Stored.Add(h.Res.Layout.DocumentTTL)) + `, its bucket's TTL (` + h.Res.Layout.DocumentTTL.String() + `, `},
		{name: "kept, not unknown", method: http.MethodGet, path: page(pipetest.Tenant, "doc-kept"), status: 200, notBody: "document-unknown"},
		{name: "deleted by hand", method: http.MethodGet, path: page(pipetest.Tenant, "doc-deleted"), status: 200,
			body: `<p class="bad" id="document-gone">No longer kept: deleted ` + at(deletedAt.ModTime) + `. It was:</p>`},
		{name: "deleted by hand, still named", method: http.MethodGet, path: page(pipetest.Tenant, "doc-deleted"), status: 200, body: "/doc-deleted/"},
		{name: "past the TTL", method: http.MethodGet, path: page("brief", "doc-expired"), status: 200,
			body: `No longer kept: deleted about ` + at(expired.EnteredAt(record.StateCompleted).Add(time.Second)) + `, past its bucket's TTL (1s, `},
		{name: "past the TTL, its record saying when it was stored", method: http.MethodGet, path: page("brief", "doc-expired-stored"), status: 200,
			body: `No longer kept: deleted ` + at(stored.Document.Stored.Add(time.Second)) + `, its bucket's TTL (1s, <code>ISEED_DOCUMENT_TTL</code>) after it was stored. It was:`},
		{name: "past the TTL, not kept until", method: http.MethodGet, path: page("brief", "doc-expired-stored"), status: 200, notBody: "document-expires"},
	}, nil, "")

	// The bucket's object infos are lost on their way: unknown, not deleted.
	stream := "OBJ_" + h.Res.Layout.TenantDocumentsBucket(pipetest.Tenant)
	cut, proxy := newSiteDropping(t, h, console.Config{}, func(subject string) bool { // direct gets, or message gets without allow_direct
		return strings.HasPrefix(subject, "$JS.API.DIRECT.GET."+stream) || strings.HasPrefix(subject, "$JS.API.STREAM.MSG.GET."+stream)
	})
	resp, body := cut.do(t, call{method: http.MethodGet, path: page(pipetest.Tenant, "doc-deleted")}, nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<p class="problem" id="document-unknown">Whether the document is still kept is unknown`) ||
		strings.Contains(body, "No longer kept") || proxy.Dropped.Load() == 0 {
		t.Errorf("a bucket that cannot be read (%d requests dropped): %d, page:\n%s\nwant 200, whether it is kept unknown, not deleted", proxy.Dropped.Load(), resp.StatusCode, body)
	}
}
