package main

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// TestMoneyCommands: caps set and shown from the command line, the spend of
// a period per tenant and service (CSV, as a platform invoices), and an
// audit that finds a request created behind iseed's back (exit 1), then is
// clean once nothing is amiss.
func TestMoneyCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon")
	}
	d := startCLIDaemon(t)
	if out, errOut, code := runCLI(t, "budget", "set", "--tenant", "acme", "--monthly-eur", "1000,50", "--daily-requests", "20"); code != 0 ||
		out != "tenant:acme: €1000.50 a month, 20 requests a day\n" {
		t.Fatalf("budget set: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "budget", "set", "--tenant", "acme", "--account"); code != 2 || !strings.Contains(errOut, "one of them") {
		t.Errorf("budget set with both scopes: exit %d, %q; want 2", code, errOut)
	}
	if out, errOut, code := runCLI(t, "budget", "list", "-o", "json"); code != 0 ||
		strings.Join(strings.Fields(out), "") != `[{"scope":"tenant:acme","caps":{"monthly_eur":1000.50,"daily_requests":20}}]` {
		t.Errorf("budget list -o json: exit %d, stdout %q, stderr %q; want the scope as the table names it, and the caps", code, out, errOut)
	}
	for _, id := range []string{"inv-1", "inv-2"} {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", eventFile(t, id, nil)); code != 0 {
			t.Fatalf("submit --wait %s: exit %d, %s", id, code, errOut)
		}
	}
	out, errOut, code := runCLI(t, "budget", "show", "--tenant", "acme", "-o", "table")
	if code != 0 || !strings.Contains(out, "day") || !strings.Contains(out, "32.00") || !strings.Contains(out, "1000.50") {
		t.Errorf("budget show: exit %d, stdout %q, stderr %q; want the two ISEEs (2 × €16) counted against €1000.50", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "spend", "-o", "csv")
	if code != 0 {
		t.Fatalf("spend: exit %d, %s", code, errOut)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != "acme" || rows[1][1] != "ISEE" || rows[1][3] != "2" || rows[1][4] != "32.00" {
		t.Errorf("spend -o csv: got %q (%v); want one line: acme, ISEE, 2 requests, 32.00", out, err)
	}
	if _, errOut, code := runCLI(t, "audit", "-o", "json"); code != 0 {
		t.Errorf("audit of a clean account: exit %d, stderr %q", code, errOut)
	}
	// Someone uses the account behind iseed's back.
	u := d.sim.base
	c, err := visengine.New(visengine.Config{BaseURL: u, Token: d.sim.token})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "eccbc87e4b5ce2fe28308fd9f2a7baf3",
		JSONVisura: map[string]string{"$0": "1378273", "$1": "RM"}})
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, "audit", "-o", "table")
	if code != 1 || !strings.Contains(out, r.ID) {
		t.Errorf("audit after a request behind iseed's back: exit %d, stdout %q, stderr %q; want 1 naming %s", code, out, errOut, r.ID)
	}
}

// TestBudgetShowTenantDefault: 'budget set --tenant-default' makes
// 'budget show --tenant-default' natural to try; the default caps count
// nothing of their own, so it is refused saying where they are seen.
func TestBudgetShowTenantDefault(t *testing.T) {
	_, errOut, code := runCLI(t, "budget", "show", "--tenant-default")
	want := "iseed budget show: the default tenant caps count nothing of their own: 'iseed budget list' shows them, " +
		"'iseed budget show --tenant T' what a tenant counted against those that apply to it"
	if code != 2 || !strings.HasPrefix(errOut, want) {
		t.Errorf("budget show --tenant-default: got exit %d, %q; want 2 and %q", code, errOut, want)
	}
}

// TestParseEuros takes a cap as digits with at most two decimals and
// refuses what could be read two ways: "1.500" is 1500 to an Italian
// operator and 1.50 to the general parser.
func TestParseEuros(t *testing.T) {
	tests := []struct {
		in   string
		want money.Cents
		ok   bool
	}{
		{"500", 50000, true}, {"499,90", 49990, true}, {"499.9", 49990, true}, {"0", 0, true},
		{"1.500", 0, false}, {"12,345", 0, false}, {"1e3", 0, false}, {"1 500", 0, false}, {"-5", 0, false}, {"€5", 0, false}, {"5.", 0, false},
	}
	for _, tt := range tests {
		got, err := parseEuros(tt.in, "--daily-eur")
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseEuros(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestAuditPeriod: --from alone audits up to now, --to alone the 24 hours
// before it, as the flags' help says.
func TestAuditPeriod(t *testing.T) {
	loc, err := money.Rome()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, loc) }
	tests := []struct {
		from, to string
		want     money.Period
	}{
		{"", "", money.Period{From: now.Add(-24 * time.Hour), To: now}},
		{"2026-11-20", "", money.Period{From: day(20), To: now}},
		{"", "2026-11-20", money.Period{From: day(19), To: day(20)}},
		{"2026-11-10", "2026-11-20", money.Period{From: day(10), To: day(20)}},
	}
	for _, tt := range tests {
		got, err := auditPeriod(tt.from, tt.to, now)
		if err != nil || !got.From.Equal(tt.want.From) || !got.To.Equal(tt.want.To) {
			t.Errorf("auditPeriod(%q, %q) = %v, %v; want %v", tt.from, tt.to, got, err, tt.want)
		}
	}
}

// TestSpendPeriod: --from alone is its month, to the first of the next
// (not this month's end), as the flag's help says; --to alone ends the
// current month's period there. A --from given as a duration ago runs to
// the end of this month: on the first of December at 10:00 in Rome, 24h
// is the last 24 hours, not November's last 14 (before, it ended at
// December's first midnight, and today's spend was left out).
func TestSpendPeriod(t *testing.T) {
	loc, err := money.Rome()
	if err != nil {
		t.Fatal(err)
	}
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, loc) }
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, loc)
	this := money.Month(now, loc)
	tests := []struct {
		from, to string
		want     money.Period
	}{
		{"", "", this},
		{"2026-10-15", "", money.Period{From: day(10, 15), To: day(11, 1)}},
		{"2026-10-15", "2026-10-20", money.Period{From: day(10, 15), To: day(10, 20)}},
		{"2026-11-30T09:00:00Z", "", money.Period{From: now.Add(-24 * time.Hour), To: day(12, 1)}},
		{"24h", "", money.Period{From: now.Add(-24 * time.Hour), To: this.To}},
		{"24h", "2026-12-01", money.Period{From: now.Add(-24 * time.Hour), To: day(12, 1)}},
	}
	for _, tt := range tests {
		got, err := period(tt.from, tt.to, now)
		if err != nil || !got.From.Equal(tt.want.From) || !got.To.Equal(tt.want.To) {
			t.Errorf("period(%q, %q) = %v, %v; want %v", tt.from, tt.to, got, err, tt.want)
		}
	}
}

// TestAuditSaysTheSimulatorForgets: on the built-in simulator, requests
// missing upstream are what a restart of iseed serve leaves (the simulator
// keeps its requests in memory), not money: audit says so on standard
// error, and says nothing of it when nothing is missing.
func TestAuditSaysTheSimulatorForgets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon")
	}
	d := startCLIDaemon(t)
	_, errOut, code := runCLI(t, "audit", "-o", "json")
	if code != 0 || strings.Contains(errOut, "forgets its requests") {
		t.Errorf("audit with nothing missing: got exit %d, stderr %q; want 0 and no note", code, errOut)
	}
	now := time.Now()
	rec := &record.Record{Tenant: "acme", ID: "emp-before-restart", Generation: 1, Attempts: 1, Service: "ISEE", Created: now,
		RequestID: "6b0ee1771dcdaf00000000ad"}
	rec.To(record.StateSubmitted, now, "")
	if _, err := record.NewStore(d.res.Records).Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runCLI(t, "audit", "-o", "json")
	if code != 1 || !strings.Contains(errOut, "forgets its requests") || !strings.Contains(errOut, "remove its ISEED_DATA_DIR") {
		t.Errorf("audit with a request the simulator does not know: got exit %d, stderr %q; want 1 and the note", code, errOut)
	}
}

// TestSpendRefusesATenantThatIsNoName: --tenant is a subject token in the
// ledger's subjects: '*' silently reported every tenant's spending as if
// one's, and a dot or a space failed in NATS with exit 1. Each is a usage
// error (exit 2), refused before anything is read.
func TestSpendRefusesATenantThatIsNoName(t *testing.T) {
	for _, name := range []string{"*", ">", "acme.globex", "acme globex"} {
		_, errOut, code := runCLI(t, "spend", "--tenant", name)
		if code != 2 || !strings.Contains(errOut, "--tenant must be letters, digits, _ or -") {
			t.Errorf("spend --tenant %q: exit %d, %q; want 2 and a usage error", name, code, errOut)
		}
	}
}

func TestDescribeCapsCountsRequestsInTheSingular(t *testing.T) {
	for _, tt := range []struct {
		caps budget.Caps
		want string
	}{
		{budget.Caps{DailyRequests: 1, MonthlyRequests: 1}, "1 request a day, 1 request a month"},
		{budget.Caps{DailyRequests: 2, MonthlyRequests: 30}, "2 requests a day, 30 requests a month"},
	} {
		if got := describeCaps(tt.caps); got != tt.want {
			t.Errorf("describeCaps(%+v) = %q, want %q", tt.caps, got, tt.want)
		}
	}
}
