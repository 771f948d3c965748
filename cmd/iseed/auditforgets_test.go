package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
)

// TestAuditNoteNamesTheWalletMismatchOfAForgottenRequest: after a restart
// of iseed serve, a request the built-in simulator forgot is missing and,
// once the simulator has charged anything since (its charges name their
// requests), a wallet mismatch of its own (charged 0.00), not the wallet's
// total. The note on standard error said "the wallet's total a mismatch",
// and README.md the same, while the audit listed one wallet mismatch per
// forgotten request.
func TestAuditNoteNamesTheWalletMismatchOfAForgottenRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon")
	}
	d := startCLIDaemon(t)
	ctx := context.Background()
	now := time.Now()
	const forgotten = "6b0ee1771dcdaf00000000ae"
	rec := &record.Record{Tenant: "acme", ID: "emp-forgotten", Generation: 1, Attempts: 1, Service: "ISEE", Created: now, RequestID: forgotten}
	rec.To(record.StateSubmitted, now, "")
	if _, err := record.NewStore(d.res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	e := ledger.Entry{Tenant: "acme", SubmissionID: "emp-forgotten", RequestID: forgotten, Service: "ISEE",
		ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", ServicePrice: money.Cents(1200), Price: money.Cents(1200), At: now, Source: ledger.SourcePosted}
	if err := ledger.New(d.js, d.res.Ledger, ledger.Config{Prefix: d.res.Layout.Prefix}).Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", eventFile(t, "emp-since-restart", nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	var out, errOut string
	var code int
	var res struct {
		Mismatches []struct {
			RequestID string `json:"request_id"`
			Against   string `json:"against"`
		} `json:"mismatches"`
	}
	waitUntil(t, 30*time.Second, "the audit to list the charge of the submission sent since", func() bool {
		out, errOut, code = runCLI(t, "audit", "-o", "json")
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("audit -o json: %v\n%s", err, out)
		}
		return code == 1 && len(res.Mismatches) == 1
	})
	if m := res.Mismatches[0]; m.RequestID != forgotten || m.Against != "wallet" {
		t.Errorf("mismatch: got %+v, want the forgotten request's, against the wallet", m)
	}
	if !strings.Contains(errOut, "forgets its requests") || !strings.Contains(errOut, "wallet mismatch (charged 0.00") {
		t.Errorf("note: got %q; want it to say that each forgotten request is also a wallet mismatch (charged 0.00)", errOut)
	}
}
