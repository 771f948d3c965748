package sim_test

import (
	"context"
	"errors"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/account"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// The contract between iseed's account client and the simulator's account
// API: what the client reads is what the simulator accounted.

// accountClient returns the real client of h's account API, with apiKey.
func accountClient(t *testing.T, h *harness, apiKey string) *account.Client {
	t.Helper()
	u, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := account.New(account.Config{BaseURL: u, Email: accountEmail, APIKey: apiKey, HTTPClient: h.client, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// spend makes n charges a second apart (every third with the urgency
// option), a recharge after the 100th and an adjustment after the 200th.
func spend(h *harness, c *clock, n int) {
	for i := range n {
		var extra map[string]any
		if i%3 == 0 {
			extra = map[string]any{"opzioni": map[string]bool{"opzione_0": true}}
		}
		h.createDirect(iseeBody(extra))
		c.Advance(time.Second)
		switch i {
		case 100:
			h.sim.SetWallet(h.sim.Wallet() + 250.75)
		case 200:
			h.sim.SetWallet(h.sim.Wallet() - 0.25)
		}
	}
}

// TestAccountContract: the client reads the wallet and every transaction,
// over three pages, exactly as the simulator accounted them.
func TestAccountContract(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	h := newAccountHarness(t, sim.Config{Now: c.Now, Step: time.Hour, Wallet: 5000})
	spend(h, c, 230)
	want := h.sim.Transactions()
	if len(want) != 232 {
		t.Fatalf("Transactions: got %d, want 230 charges, a recharge and an adjustment", len(want))
	}
	h.sim.ResetCounters()
	cl := accountClient(t, h, accountKey)

	w, err := cl.Wallet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if credit := money.Cents(math.Round(h.sim.Wallet() * 100)); w.Credit != credit || !w.UpdatedAt.Equal(want[0].CreatedAt) {
		t.Errorf("Wallet: got %s updated %s, want %s updated %s", w.Credit, w.UpdatedAt, credit, want[0].CreatedAt)
	}
	got, err := cl.Transactions(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	compareTransactions(t, got, want)
	sum := money.Cents(5000_00)
	for _, tx := range got {
		sum += tx.Amount
	}
	if sum != w.Credit {
		t.Errorf("start + transactions read: got %s, want the credit read, %s", sum, w.Credit)
	}
	if n := h.sim.Counters()["GET /wallet/transactions"]; n != 3 {
		t.Errorf("pages read: got %d, want 3 (100, 100, 32)", n)
	}

	// Since a time: the pages up to it, newest first.
	since := want[150].CreatedAt
	recent, err := cl.Transactions(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	var wantRecent []sim.Transaction
	for _, tx := range want {
		if !tx.CreatedAt.Before(since) {
			wantRecent = append(wantRecent, tx)
		}
	}
	compareTransactions(t, recent, wantRecent)
}

func compareTransactions(t *testing.T, got []account.Transaction, want []sim.Transaction) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("transactions read: got %d, want %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.ID != w.ID || g.Amount != money.Cents(w.Amount) || !g.CreatedAt.Equal(w.CreatedAt) || g.Description != w.Description || g.RequestID() != w.RequestID {
			t.Errorf("transaction %d: got %+v (request %q), want %+v", i, g, g.RequestID(), w)
		}
	}
}

// TestAccountContractErrors: a wrong key is the client's permanent 401/140;
// the simulator's faults are the client's retryable and throttled errors.
func TestAccountContractErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		key        string
		faults     sim.Faults
		status     int
		code       int
		class      account.Class
		retryAfter time.Duration
	}{
		{"wrong key", "wrong-key", sim.Faults{}, 401, 140, account.ClassPermanent, 0},
		{"injected 502", accountKey, sim.Faults{Errors: map[string]sim.ErrorFault{"GET /wallet": {Next: 1, Status: 502}, "GET /wallet/transactions": {Next: 1, Status: 502}}}, 502, 502, account.ClassRetryable, 0},
		{"throttled", accountKey, sim.Faults{Throttle: map[string]sim.ThrottleFault{"GET /wallet": {Next: 1, RetryAfter: 7}, "GET /wallet/transactions": {Next: 1, RetryAfter: 7}}}, 429, 429, account.ClassThrottled, 7 * time.Second},
	}
	for _, tt := range tests {
		h := newAccountHarness(t, sim.Config{Faults: tt.faults})
		cl := accountClient(t, h, tt.key)
		_, werr := cl.Wallet(ctx)
		_, terr := cl.Transactions(ctx, time.Time{})
		for _, err := range []error{werr, terr} {
			var e *account.Error
			if !errors.As(err, &e) || e.Status != tt.status || e.Code != tt.code || e.Class != tt.class || e.RetryAfter != tt.retryAfter {
				t.Errorf("%s: got %v, want %s %d/%d retry after %s", tt.name, err, tt.class, tt.status, tt.code, tt.retryAfter)
			}
		}
	}
}

// TestAccountContractPHPShapes: amounts as "11,70" and the list as an
// object keyed "0", "1", … read the same.
func TestAccountContractPHPShapes(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	keys := map[string]sim.Knob{"GET /wallet": {Rate: 1}, "GET /wallet/transactions": {Rate: 1}}
	h := newAccountHarness(t, sim.Config{Now: c.Now, Step: time.Hour, Wallet: 5000,
		Faults: sim.Faults{PHPScalars: keys, ObjectLists: keys}})
	spend(h, c, 120)
	cl := accountClient(t, h, accountKey)
	w, err := cl.Wallet(ctx)
	if credit := money.Cents(math.Round(h.sim.Wallet() * 100)); err != nil || w.Credit != credit {
		t.Errorf("Wallet: got %s, %v; want %s", w.Credit, err, credit)
	}
	got, err := cl.Transactions(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	compareTransactions(t, got, h.sim.Transactions())
}
