package sim

import (
	"slices"
	"testing"
	"time"
)

func TestTimeline(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	step := time.Minute
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name string
		life lifecycle
		now  time.Duration
		want phase
	}{
		{"draft", lifecycle{}, time.Hour, phSearching},
		{"draft cancelled", lifecycle{cancelled: at(time.Second)}, time.Hour, phCancelled},
		{"submitted", lifecycle{submitted: t0}, 0, phInProgress},
		{"data ready", lifecycle{submitted: t0}, step, phDataReady},
		{"fulfilled", lifecycle{submitted: t0}, 2 * step, phFulfilled},
		{"doomed, before", lifecycle{submitted: t0, doomed: true}, step - 1, phInProgress},
		{"doomed", lifecycle{submitted: t0, doomed: true}, step, phCancelled},
		{"cancelled early", lifecycle{submitted: t0, cancelled: at(10 * time.Second)}, time.Hour, phCancelled},
		{"doomed, cancelled earlier", lifecycle{submitted: t0, doomed: true, cancelled: at(time.Second)}, time.Hour, phCancelled},
		{"cancelled as data arrives", lifecycle{submitted: t0, cancelled: at(step)}, step, phCancelled},
	}
	for _, tt := range tests {
		tl := tt.life.timeline(step)
		reached, cur := tl.at(t0.Add(tt.now))
		if cur != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, cur.name(), tt.want.name())
		}
		if cur == phCancelled && !reached[phFulfilled].IsZero() {
			t.Errorf("%s: cancelled yet fulfilled", tt.name)
		}
	}
	l := lifecycle{submitted: t0, cancelled: at(10 * time.Second)}
	if tl := l.timeline(step); !l.manualCancel(tl) || !tl[phDataReady].IsZero() {
		t.Errorf("client cancel: got %v, want a manual cancel that drops later phases", tl)
	}
}

func TestCompileFaultsPrecedence(t *testing.T) {
	f := compileFaults(Faults{Errors: map[string]ErrorFault{
		"*":           {Next: 1, Status: 500},
		"GET /visure": {Next: 1, Status: 502},
	}})
	if got := f.errors[epListVisure].status; got != 502 {
		t.Errorf("own key: got %d, want 502", got)
	}
	if got := f.errors[epCreate].status; got != 500 {
		t.Errorf("wildcard: got %d, want 500", got)
	}
	if compileFaults(Faults{}) != nil {
		t.Errorf("zero Faults: got active faults, want nil")
	}
	if got := compileFaults(Faults{Errors: map[string]ErrorFault{"GET /visure": {Rate: 3, Status: 404}}}).errors[epListVisure]; got.rate != 1 || got.status != 503 {
		t.Errorf("normalized: got rate %v status %d, want 1 503", got.rate, got.status)
	}
}

func TestRoute(t *testing.T) {
	tests := []struct {
		method, path string
		want         endpoint
		param        string
		status       int
	}{
		{"GET", "/visure", epListVisure, "", 0},
		{"GET", "/visure/abc", epGetVisura, "abc", 0},
		{"GET", "/richiesta", epListRequests, "", 0},
		{"POST", "/richiesta", epCreate, "", 0},
		{"GET", "/richiesta/abc", epGetRequest, "abc", 0},
		{"PUT", "/richiesta/abc", epUpdate, "abc", 0},
		{"PUT", "/richiesta", epUpdate, "", 0},
		{"DELETE", "/richiesta/abc", epDelete, "abc", 0},
		{"POST", "/richiesta/abc", epSearch, "abc", 0},
		{"PUT", "/richiesta/abc/ricerche", epChoose, "abc", 0},
		{"GET", "/documento/abc", epDocument, "abc", 0},
		{"GET", "/documento", epDocument, "", 0},
		{"GET", "/wallet", epWallet, "", 0},
		{"GET", "/wallet/transactions", epTransactions, "", 0},
		{"POST", "/wallet", 0, "", 405},
		{"DELETE", "/wallet/transactions", 0, "", 405},
		{"GET", "/wallet/", 0, "", 404},
		{"GET", "/wallet/other", 0, "", 404},
		{"GET", "/wallet/transactions/abc", 0, "", 404},
		{"GET", "/richiesta/abc/def", 0, "", 404},
		{"GET", "/", 0, "", 404},
		{"DELETE", "/visure", 0, "", 405},
	}
	for _, tt := range tests {
		ep, param, err := route(tt.method, tt.path)
		status := 0
		if err != nil {
			status = err.status
		}
		if status != tt.status || (status == 0 && (ep != tt.want || param != tt.param)) {
			t.Errorf("%s %s: got %s %q %d, want %s %q %d", tt.method, tt.path, ep, param, status, tt.want, tt.param, tt.status)
		}
	}
	for ep := range numEndpoints {
		if got, ok := endpointByName(ep.String()); !ok || got != ep {
			t.Errorf("endpointByName(%q): got %v %v", ep, got, ok)
		}
	}
}

// TestLedgerOrder: a charge whose time was read before a later one's
// reached the ledger still lists in its place, and ties list newest first.
func TestLedgerOrder(t *testing.T) {
	t0 := time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)
	l := newLedger(10_000, t0, 1)
	l.debit(100, t0.Add(2*time.Second), func() string { return "a" })
	l.debit(100, t0.Add(time.Second+500*time.Millisecond), func() string { return "b" }) // read earlier, locked later
	l.set(20_000, t0.Add(2*time.Second+900*time.Millisecond))
	var got []string
	for _, tx := range l.page(0, 10) {
		got = append(got, tx.RequestID+"@"+tx.CreatedAt.Format("05"))
	}
	if want := []string{"@02", "a@02", "b@01"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, ok := l.debit(30_000, t0, func() string { t.Error("request id asked for a refused charge"); return "" }); ok {
		t.Errorf("a charge over the balance: got ok")
	}
	if page := l.page(2, 10); len(page) != 1 || page[0].RequestID != "b" {
		t.Errorf("page(2, 10): got %+v, want b alone", page)
	}
}
