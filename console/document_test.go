package console_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
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
