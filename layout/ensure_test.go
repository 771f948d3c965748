package layout

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
)

// TestEnsureAppliesTheDocumentTTLToEveryTenant: a new ISEED_DOCUMENT_TTL
// reaches every tenant's documents bucket when the daemon starts, not only
// the buckets of tenants that store a document afterwards.
func TestEnsureAppliesTheDocumentTTLToEveryTenant(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	l := Layout{DocumentTTL: 720 * time.Hour}
	if _, err := Ensure(ctx, srv.JS, l); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		if _, err := EnsureTenantDocuments(ctx, srv.JS, l, tenant); err != nil {
			t.Fatal(err)
		}
	}
	l.DocumentTTL = 2 * time.Minute
	if _, err := Ensure(ctx, srv.JS, l); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		obs, err := srv.JS.ObjectStore(ctx, l.WithDefaults().TenantDocumentsBucket(tenant))
		if err != nil {
			t.Fatal(err)
		}
		st, err := obs.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() != 2*time.Minute {
			t.Errorf("%s's documents bucket keeps documents %s, want the new 2m", tenant, st.TTL())
		}
	}
}
