package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/ledger"
)

// TestTopOffATerminal: when standard output is a file or a pipe, `iseed top`
// prints one snapshot and exits, in either format, with no screen clearing.
func TestTopOffATerminal(t *testing.T) {
	startCLIDaemon(t)
	tests := []struct {
		format string
		valid  func(out string) bool
	}{
		{"table", func(out string) bool { return strings.Count(out, "iseed overview") == 1 }},
		{"json", func(out string) bool { return json.Valid([]byte(out)) }},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			const limit = 30 * time.Second
			start := time.Now()
			out, errOut, code := runCLIFor(t, limit, "top", "-o", tt.format, "--every", "100ms")
			if took := time.Since(start); took >= limit {
				t.Errorf("top -o %s off a terminal ran until stopped (%s); want one snapshot and exit", tt.format, took)
			}
			if code != 0 || !tt.valid(out) || strings.Contains(out, "\x1b[") || strings.Contains(out, "refreshing every") {
				t.Errorf("top -o %s off a terminal: exit %d, stdout %q, stderr %q; want 0 and one snapshot, no screen clearing",
					tt.format, code, out, errOut)
			}
		})
	}
}

// TestTopFollowsTheLedger: refreshing on a terminal, top takes "spent
// today" from a running total that follows the ledger, as the daemon does:
// the day's entries are read once, not at every refresh (100,000 entries
// every 2 s on an onboarding day, for as long as an operator watches), and
// an entry stored while it runs is counted.
func TestTopFollowsTheLedger(t *testing.T) {
	startCLIDaemon(t)
	ctx := context.Background()
	c, err := openCLI(ctx, io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	l := ledger.New(c.js, c.res.Ledger, ledger.Config{Prefix: c.res.Layout.Prefix})
	enter := func(i int) {
		t.Helper()
		e := ledger.Entry{Tenant: "acme", SubmissionID: fmt.Sprintf("emp-%d", i), RequestID: fmt.Sprintf("req-%d", i),
			ServiceHash: "h", ServicePrice: 1200, Price: 1200, Source: ledger.SourcePosted}
		if err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	const n = 100
	for i := range n {
		enter(i)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	today, err := followSpendToday(runCtx, c)
	if err != nil {
		t.Fatal(err)
	}
	if eur, err := today(ctx); err != nil || eur != 12*n {
		t.Fatalf("spent today: %v, %v; want %d", eur, err, 12*n)
	}
	before := c.nc.Stats().InMsgs
	for range 20 { // twenty refreshes
		if _, err := today(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.nc.Stats().InMsgs - before; got >= n {
		t.Errorf("twenty refreshes took %d messages; want the %d entries read once, before them", got, n)
	}
	enter(n)
	waitUntil(t, 10*time.Second, "the new entry counted", func() bool {
		eur, err := today(ctx)
		return err == nil && eur == 12*(n+1)
	})
}
