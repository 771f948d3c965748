package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/account"
	"github.com/iseed-dev/iseed/money"
)

// TestAuditWithoutTheWallet: the wallet's transactions are read last, and
// only for the wallet check. An account API that cannot be read (down,
// or refusing a key rotated on one side only) must not hide what the
// rest of the audit finds: a request paid upstream that no submission
// owns is money iseed cannot account for whatever the wallet says. The
// audit used to end with the wallet's error alone: iseed audit printed no
// finding, and the daemon's periodic audit left
// iseed_audit_unmatched_requests at its last value (0 since its start),
// so IseedAuditUnmatchedRequests never fired. The audit checks the rest,
// says the wallet was not checked, and returns the wallet's error beside.
func TestAuditWithoutTheWallet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon")
	}
	d := startCLIDaemon(t)
	ctx := context.Background()
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", eventFile(t, "inv-paid", nil)); code != 0 {
		t.Fatalf("submit --wait inv-paid: exit %d, %s", code, errOut)
	}
	outside := createBehind(t, d)
	refused, err := account.New(account.Config{BaseURL: d.sim.base, Email: simAccountEmail, APIKey: "rotated-elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	res, err := runAudit(ctx, d.js, d.res, d.upstream, refused, money.Period{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
	var unread *walletUnreadError
	if !errors.As(err, &unread) {
		t.Errorf("error %v; want one saying the wallet was not read", err)
	}
	if res == nil {
		t.Fatalf("no result; want the audit of all but the wallet (unowned %s)", outside)
	}
	var unowned []string
	for _, u := range res.Unowned {
		unowned = append(unowned, u.RequestID)
	}
	if !slices.Equal(unowned, []string{outside}) || res.Checked.Wallet {
		t.Errorf("unowned %q, wallet checked %v; want %s unowned, the wallet not checked", unowned, res.Checked.Wallet, outside)
	}
	// iseed audit reads the simulator's account key where the daemon noted
	// it: a key rotated there is refused the same way.
	e, err := d.res.Keys.Get(ctx, simURLKey)
	if err != nil {
		t.Fatal(err)
	}
	var sa simAccess
	if err := json.Unmarshal(e.Value(), &sa); err != nil {
		t.Fatal(err)
	}
	sa.AccountKey = "rotated-elsewhere"
	v, err := json.Marshal(sa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.res.Keys.Put(ctx, simURLKey, v); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "audit", "-o", "table")
	if code != 1 || !strings.Contains(out, outside) || !strings.Contains(out, "wallet not checked") || !strings.Contains(errOut, "the wallet was not checked") {
		t.Errorf("iseed audit: exit %d, %s%s; want exit 1, %s unowned, the wallet not checked and why", code, out, errOut, outside)
	}
}
