package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// storeDocument puts data in obs as tenant's submission id's document and
// creates its completed record, completed at done, naming it; with stored,
// the record says when the object was stored, as tracking writes it (else
// it is a record written before it did).
func storeDocument(t *testing.T, res *layout.Resources, obs jetstream.ObjectStore, tenant, id string, data []byte, done time.Time, stored bool) *record.Record {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256(data)
	ref := &record.DocumentRef{Bucket: res.Layout.TenantDocumentsBucket(tenant), Object: tracking.DocumentObject(tenant, id, hex.EncodeToString(sum[:]), "Attestazione ISEE.pdf"),
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), ContentType: "application/pdf", Stato: visengine.StateFulfilled}
	if _, err := obs.PutBytes(ctx, ref.Object, data); err != nil {
		t.Fatal(err)
	}
	if stored {
		info, err := obs.GetInfo(ctx, ref.Object)
		if err != nil {
			t.Fatal(err)
		}
		ref.Stored = info.ModTime.UTC()
	}
	rec := &record.Record{Tenant: tenant, ID: id, Fingerprint: "fp-" + id, Generation: 1, Attempts: 1, Created: done, RequestID: "req-" + id, Document: ref}
	rec.To(record.StateCompleted, done, "")
	if _, err := record.NewStore(res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// statusDoc is the "document" of iseed status -o json, as a script reads it.
type statusDoc struct {
	State        string     `json:"state"`
	ExpiresAt    *time.Time `json:"expires_at"`
	DeletedAt    *time.Time `json:"deleted_at"`
	ExpiredAt    *time.Time `json:"expired_at"`
	ExpiredAbout *time.Time `json:"expired_about"`
	TTL          string     `json:"ttl"`
	Problem      string     `json:"problem"`
}

// statusDocument runs iseed status ID for tenant in table and JSON form
// and returns the table's document line and the JSON's "document".
func statusDocument(t *testing.T, tenant, id string) (string, *statusDoc) {
	t.Helper()
	return statusDocumentRun(t, runCLI, tenant, id)
}

// statusDocumentRun is statusDocument running each command with cli.
func statusDocumentRun(t *testing.T, cli func(*testing.T, ...string) (string, string, int), tenant, id string) (string, *statusDoc) {
	t.Helper()
	out, errOut, code := cli(t, "status", "--tenant", tenant, id, "-o", "table")
	if code != 0 {
		t.Fatalf("status %s: exit %d, stderr %q", id, code, errOut)
	}
	line := ""
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "document ") {
			line = strings.TrimSpace(l)
		}
	}
	out, errOut, code = cli(t, "status", "--tenant", tenant, id, "-o", "json")
	var got struct {
		Record   *record.Record `json:"record"`
		Document *statusDoc     `json:"document"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 || got.Record == nil || got.Record.Document == nil {
		t.Fatalf("status %s -o json: exit %d, stdout %q (%v), stderr %q; want 0 and the record naming its document", id, code, out, err, errOut)
	}
	return line, got.Document
}

// TestStatusSaysADeletedDocumentIsNoLongerKept: a completed submission's
// record keeps naming its document once the bucket's TTL, or an operator,
// deleted it; iseed status used to show it as if it could be fetched.
// It asks the bucket: a kept document is shown kept until its TTL after
// it was stored, one deleted by hand is "no longer kept: deleted" at the
// time its bucket recorded, one the TTL removed without a trace is deleted
// its TTL after its record says it was stored (about its TTL after the
// record completed, in a record that does not say), and with -o json
// "document" says so beside the record (whose reference stays). A bucket that cannot be read makes it "unknown",
// never deleted.
func TestStatusSaysADeletedDocumentIsNoLongerKept(t *testing.T) {
	const tenant = "acme"
	d, srv := startCLIDaemonOn(t)
	ctx, now := context.Background(), time.Now()
	obs, err := layout.EnsureTenantDocuments(ctx, d.js, d.res.Layout, tenant)
	if err != nil {
		t.Fatal(err)
	}
	kept := storeDocument(t, d.res, obs, tenant, "doc-kept", []byte("kept"), now, true)
	deleted := storeDocument(t, d.res, obs, tenant, "doc-deleted", []byte("deleted by hand"), now, true)
	if err := obs.Delete(ctx, deleted.Document.Object); err != nil {
		t.Fatal(err)
	}
	// The TTL: a tenant whose bucket keeps objects a second.
	short := d.res.Layout
	short.DocumentTTL = time.Second
	ttl, err := layout.EnsureTenantDocuments(ctx, d.js, short, "brief")
	if err != nil {
		t.Fatal(err)
	}
	expired := storeDocument(t, d.res, ttl, "brief", "doc-expired", []byte("expired"), time.Now(), false)
	// Stored an hour after its record completed (a download retried, a
	// replay): it expired its TTL after it was stored, not after that.
	stored := storeDocument(t, d.res, ttl, "brief", "doc-expired-stored", []byte("expired, stored late"), time.Now().Add(-time.Hour), true)
	for _, r := range []*record.Record{expired, stored} {
		waitUntil(t, 30*time.Second, "the bucket's TTL to delete the document", func() bool {
			_, err := ttl.GetInfo(ctx, r.Document.Object, jetstream.GetObjectInfoShowDeleted())
			return errors.Is(err, jetstream.ErrObjectNotFound)
		})
	}

	line, doc := statusDocument(t, tenant, "doc-kept")
	until := kept.Document.Stored.Add(d.res.Layout.DocumentTTL)
	if !strings.Contains(line, "doc-kept/") || strings.Contains(line, "no longer kept") || doc == nil || doc.State != "kept" {
		t.Errorf("a kept document: %q, %+v; want the object, and state kept", line, doc)
	} else if !strings.HasSuffix(line, "; kept until "+until.UTC().Format(time.RFC3339)+", the bucket's TTL ("+d.res.Layout.DocumentTTL.String()+", ISEED_DOCUMENT_TTL) after it was stored") ||
		doc.ExpiresAt == nil || !doc.ExpiresAt.Equal(until) || doc.TTL != d.res.Layout.DocumentTTL.String() {
		t.Errorf("a kept document: %q, %+v; want it kept until %s, the bucket's TTL after it was stored, and expires_at", line, doc, until)
	}
	line, doc = statusDocument(t, tenant, "doc-deleted")
	if doc == nil || doc.State != "deleted" || doc.DeletedAt == nil || doc.DeletedAt.Before(now.Add(-time.Second)) {
		t.Errorf("a document deleted by hand: %+v; want state deleted with deleted_at since the test began", doc)
	} else if !strings.Contains(line, "no longer kept: deleted "+doc.DeletedAt.UTC().Format(time.RFC3339)+"; was "+tenant+"/doc-deleted/") {
		t.Errorf("a document deleted by hand: %q; want no longer kept, deleted %s, and what it was", line, doc.DeletedAt.UTC().Format(time.RFC3339))
	}
	line, doc = statusDocument(t, "brief", "doc-expired")
	want := expired.EnteredAt(record.StateCompleted).Add(time.Second)
	if !strings.Contains(line, "no longer kept: deleted about "+want.UTC().Format(time.RFC3339)+", past the bucket's TTL (1s") ||
		doc == nil || doc.State != "deleted" || doc.ExpiredAbout == nil || !doc.ExpiredAbout.Equal(want) || doc.ExpiredAt != nil || doc.TTL != "1s" {
		t.Errorf("a document past its TTL, its record written before it said when it was stored: %q, %+v; want deleted about %s past the TTL (1s), and state deleted with expired_about", line, doc, want)
	}
	line, doc = statusDocument(t, "brief", "doc-expired-stored")
	want = stored.Document.Stored.Add(time.Second)
	if !strings.Contains(line, "no longer kept: deleted "+want.UTC().Format(time.RFC3339)+", the bucket's TTL (1s, ISEED_DOCUMENT_TTL) after it was stored; was ") ||
		doc == nil || doc.State != "deleted" || doc.ExpiredAt == nil || !doc.ExpiredAt.Equal(want) || doc.ExpiredAbout != nil || doc.TTL != "1s" {
		t.Errorf("a document past its TTL, its record saying when it was stored: %q, %+v; want deleted %s, its TTL (1s) after it was stored, and state deleted with expired_at", line, doc, want)
	}

	// The bucket's object infos are lost on their way: unknown, not deleted.
	proxy := natstest.NewDropProxy(t, srv.Addr().String())
	stream := "OBJ_" + d.res.Layout.TenantDocumentsBucket(tenant)
	proxy.Drop = func(subject string) bool { // direct gets, or message gets without allow_direct
		return strings.HasPrefix(subject, "$JS.API.DIRECT.GET."+stream) || strings.HasPrefix(subject, "$JS.API.STREAM.MSG.GET."+stream)
	}
	t.Setenv("ISEED_NATS_URL", proxy.URL)
	// Each command's gets are lost, so its check of the bucket runs to its
	// deadline: the command's own (10 s), or its caller's when sooner, as
	// here, where 5 s leave ample time for what comes before it.
	within := func(t *testing.T, args ...string) (string, string, int) { return runCLIFor(t, 5*time.Second, args...) }
	line, doc = statusDocumentRun(t, within, tenant, "doc-deleted")
	if !strings.Contains(line, "whether it is still kept is unknown") || strings.Contains(line, "no longer kept") ||
		doc == nil || doc.State != "unknown" || doc.Problem == "" || proxy.Dropped.Load() == 0 {
		t.Errorf("a bucket that cannot be read: %q, %+v (%d requests dropped); want unknown, with its problem", line, doc, proxy.Dropped.Load())
	}
}
