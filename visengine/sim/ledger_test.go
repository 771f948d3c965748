package sim_test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// movement is a transaction a test expects; request "?" stands for a
// request whose id the answer did not give (a lost answer).
type movement struct {
	amount  int64
	desc    string // "" for a charge: "API usage - visengine2.altravia.com <request>"
	request string
	at      time.Time
}

// TestWalletInvariant runs a mixed history on a fake clock and checks that
// every charge, and nothing else, left a transaction, and that the credit
// is the starting credit plus their sum, in cents.
func TestWalletInvariant(t *testing.T) {
	c := newClock()
	h := newAccountHarness(t, sim.Config{Now: c.Now, Step: time.Hour, Wallet: 100})
	var want []movement // oldest first
	step := func() time.Time { c.Advance(time.Minute); return c.Now() }
	charged := func(cents int64, id string, at time.Time) {
		want = append(want, movement{amount: -cents, request: id, at: at})
	}
	status := func(what string, r reply, status int) {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: got %d %s, want %d", what, r.status, r.raw, status)
		}
	}

	at := step()
	charged(1200, h.create(iseeBody(nil)).ID, at)
	at = step()
	charged(1600, h.create(iseeBody(map[string]any{"opzioni": map[string]bool{"opzione_0": true, "unknown": true}})).ID, at)
	step()
	status("test: true", h.do(http.MethodPost, "/richiesta", iseeBody(map[string]any{"test": true})), 200)
	status("validazione fails", h.do(http.MethodPost, "/richiesta", map[string]any{"hash_visura": sim.HashISEE, "json_visura": map[string]string{"$0": "Mario"}}), 412)
	draft := h.create(iseeBody(map[string]any{"state": 0})).ID
	urgent := h.create(iseeBody(map[string]any{"state": 0, "opzioni": map[string]bool{"opzione_0": true}})).ID
	status("edit a draft", h.do(http.MethodPut, "/richiesta/"+draft, map[string]any{"email_target": "a@example.com"}), 200)
	at = step()
	status("submit a draft", h.do(http.MethodPut, "/richiesta/"+draft, map[string]any{"state": 1}), 200)
	charged(1200, draft, at)

	at = step()
	h.sim.SetFaults(sim.Faults{CommitThenFail: sim.CommitThenFail{Next: 1}})
	status("commit then fail", h.do(http.MethodPost, "/richiesta", iseeBody(nil)), 502)
	charged(1200, "?", at)
	at = step()
	h.sim.SetFaults(sim.Faults{LateCommit: sim.LateCommit{Next: 1, Delay: 5 * time.Minute}})
	status("late commit", h.do(http.MethodPost, "/richiesta", iseeBody(nil)), 502)
	charged(1200, "?", at)
	h.sim.SetFaults(sim.Faults{})

	at = step() // 100 - 12 - 16 - 12 - 12 - 12 = 36
	status("PUT /_sim/wallet down", h.do(http.MethodPut, "/_sim/wallet", map[string]float64{"euro": 10}), 200)
	want = append(want, movement{amount: -2600, desc: "Wallet adjustment", at: at})
	step()
	status("POST, wallet short", h.do(http.MethodPost, "/richiesta", iseeBody(nil)), 402)
	status("PUT, wallet short", h.do(http.MethodPut, "/richiesta/"+urgent, map[string]any{"state": 1}), 402)
	at = step()
	status("PUT /_sim/wallet up", h.do(http.MethodPut, "/_sim/wallet", map[string]float64{"euro": 50}), 200)
	want = append(want, movement{amount: 4000, desc: "Wallet recharge", at: at})
	at = step()
	status("submit the urgent draft", h.do(http.MethodPut, "/richiesta/"+urgent, map[string]any{"state": 1}), 200)
	charged(1600, urgent, at)
	step()
	status("PUT /_sim/wallet unchanged", h.do(http.MethodPut, "/_sim/wallet", map[string]float64{"euro": 34}), 200)
	status("cancel: no refund", h.do(http.MethodDelete, "/richiesta/"+want[0].request, nil), 200)
	c.Advance(5 * time.Minute) // the late commit is seen

	got := h.sim.Transactions()
	checkMovements(t, h, got, want)
	checkBalance(t, h, 100_00, got)
	if n := h.sim.Counters()["charged"]; n != 6 {
		t.Errorf("charged: got %d, want 6", n)
	}
	// The API lists the same transactions.
	var listed []map[string]any
	if err := json.Unmarshal(h.accountOK("/wallet/transactions").env.Data, &listed); err != nil || len(listed) != len(got) {
		t.Fatalf("GET /wallet/transactions: got %d, %v; want %d", len(listed), err, len(got))
	}
	for i, l := range listed {
		if l["id"] != got[i].ID || int64(math.Round(l["amount"].(float64)*100)) != got[i].Amount {
			t.Errorf("listed[%d]: got %v, want %+v", i, l, got[i])
		}
	}
}

// checkMovements compares transactions (newest first) with the movements
// expected (oldest first). A charge's time must be its request's
// timestamp_creation when a POST made it.
func checkMovements(t *testing.T, h *harness, got []sim.Transaction, want []movement) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Transactions: got %d %+v, want %d", len(got), got, len(want))
	}
	seen := map[string]bool{}
	for i, w := range want {
		g := got[len(got)-1-i]
		if w.request == "?" {
			w.request = g.RequestID
			if req := h.get(g.RequestID); req.TimestampFirst != w.at.Unix() {
				t.Errorf("transaction %d: the lost answer's request created at %d, want %d", i, req.TimestampFirst, w.at.Unix())
			}
		}
		if w.desc == "" {
			w.desc = "API usage - visengine2.altravia.com " + w.request
		}
		if g.Amount != w.amount || g.Description != w.desc || g.RequestID != w.request || !g.CreatedAt.Equal(w.at) {
			t.Errorf("transaction %d: got %+v, want %+v", i, g, w)
		}
		if seen[g.ID] {
			t.Errorf("transaction %d: id %s seen before", i, g.ID)
		}
		seen[g.ID] = true
	}
}

// checkBalance checks the invariant: credit = start + the sum of the
// transactions, in cents, on every view of the wallet; and that the
// transactions are newest first, the newest being the wallet's updatedAt.
func checkBalance(t *testing.T, h *harness, start int64, txs []sim.Transaction) {
	t.Helper()
	sum := start
	for i, tx := range txs {
		sum += tx.Amount
		if i > 0 && tx.CreatedAt.After(txs[i-1].CreatedAt) {
			t.Errorf("transaction %d (%s) is newer than the one before (%s)", i, tx.CreatedAt, txs[i-1].CreatedAt)
		}
	}
	if credit := int64(math.Round(h.sim.Wallet() * 100)); credit != sum {
		t.Errorf("Wallet(): got %d cents, want start %d + transactions = %d", credit, start, sum)
	}
	var w struct {
		Credit    float64 `json:"credit"`
		UpdatedAt string  `json:"updatedAt"`
	}
	if err := json.Unmarshal(h.accountOK("/wallet").env.Data, &w); err != nil {
		t.Fatal(err)
	}
	if credit := int64(math.Round(w.Credit * 100)); credit != sum {
		t.Errorf("GET /wallet: got credit %d cents, want %d", credit, sum)
	}
	if len(txs) > 0 && w.UpdatedAt != txs[0].CreatedAt.Format("2006-01-02T15:04:05-07:00") {
		t.Errorf("GET /wallet: updatedAt %s, want the newest transaction's %s", w.UpdatedAt, txs[0].CreatedAt)
	}
}

// TestWalletConcurrent: submissions racing each other and top-ups, some
// refused for want of credit, keep the invariant and the order.
func TestWalletConcurrent(t *testing.T) {
	h := newAccountHarness(t, sim.Config{Step: time.Hour, Wallet: 300})
	body, _ := json.Marshal(iseeBody(nil))
	var wg sync.WaitGroup
	statuses := make([][]int, 8)
	for g := range statuses {
		wg.Go(func() {
			for range 25 {
				req := httptest.NewRequest(http.MethodPost, "/richiesta", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				h.sim.ServeHTTP(rec, req)
				statuses[g] = append(statuses[g], rec.Code)
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			h.sim.SetWallet(float64(50 + 30*(i%4)))
		}
	})
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		for _, code := range s {
			switch code {
			case http.StatusOK:
				ok++
			case http.StatusPaymentRequired:
			default:
				t.Fatalf("POST: got %d, want 200 or 402", code)
			}
		}
	}
	txs := h.sim.Transactions()
	charges := 0
	for _, tx := range txs {
		if strings.HasPrefix(tx.Description, "API usage - ") {
			charges++
		}
	}
	if ok == 0 || ok == len(statuses)*25 {
		t.Errorf("got %d submissions of %d, want some refused for want of credit", ok, len(statuses)*25)
	}
	if c := h.sim.Counters(); charges != ok || c["charged"] != ok || c["created"] != ok {
		t.Errorf("got %d charges, counters %v; want %d (the 200s)", charges, c, ok)
	}
	checkBalance(t, h, 300_00, txs)
}
