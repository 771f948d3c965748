package sim

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Transaction is one movement of the simulated wallet, as GET
// /wallet/transactions lists it.
type Transaction struct {
	ID          string    // "txn_" and 24 hex digits
	Amount      int64     // cents: negative for a charge, positive for a top-up
	CreatedAt   time.Time // UTC, to the second, as the API writes it
	Description string    // "API usage - visengine2.altravia.com <request id>", "Wallet recharge" or "Wallet adjustment"
	RequestID   string    // the request charged; "" for a recharge or an adjustment
}

// Transaction descriptions.
const (
	chargeHost        = "visengine2.altravia.com"
	descRecharge      = "Wallet recharge"
	descAdjustment    = "Wallet adjustment"
	descChargePrefix  = "API usage - " + chargeHost + " "
	transactionPrefix = "txn_"
)

// ledger is the wallet: its balance and every movement of it, kept so that
// the balance is always the starting balance plus the sum of the
// transactions, in cents.
type ledger struct {
	mu      sync.Mutex
	balance int64         // cents
	created time.Time     // the wallet's createdAt: the Server's start
	txs     []Transaction // oldest first, in CreatedAt order
	ids     *idGen
}

func newLedger(balance int64, created time.Time, seed int64) *ledger {
	return &ledger{balance: balance, created: created.UTC().Truncate(time.Second), ids: newIDGen(seed ^ 0x7478)}
}

// funds returns the balance in cents.
func (l *ledger) funds() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.balance
}

// debit takes cost cents from the wallet if it holds them, recording a
// charge at at for the request whose id request returns (called once, only
// when the wallet holds the money, with the ledger locked: request may
// assign the id). Otherwise it returns false and the balance.
func (l *ledger) debit(cost int64, at time.Time, request func() string) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.balance < cost {
		return l.balance, false
	}
	id := request()
	l.balance -= cost
	l.recordLocked(-cost, at, descChargePrefix+id, id)
	return l.balance, true
}

// set makes the balance c cents, recording the difference at at as a
// recharge (positive) or an adjustment (negative); no difference records
// nothing.
func (l *ledger) set(c int64, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	diff := c - l.balance
	if diff == 0 {
		return
	}
	desc := descRecharge
	if diff < 0 {
		desc = descAdjustment
	}
	l.balance = c
	l.recordLocked(diff, at, desc, "")
}

// recordLocked adds a transaction, keeping txs in CreatedAt order: a charge
// whose time was read before a later one's reached the lock still lands in
// its place. The caller holds l.mu.
func (l *ledger) recordLocked(amount int64, at time.Time, desc, request string) {
	at = at.UTC().Truncate(time.Second)
	_, id, _ := l.ids.next(at)
	t := Transaction{ID: transactionPrefix + id, Amount: amount, CreatedAt: at, Description: desc, RequestID: request}
	i := len(l.txs)
	for i > 0 && l.txs[i-1].CreatedAt.After(at) {
		i--
	}
	l.txs = slices.Insert(l.txs, i, t)
}

// page returns up to limit transactions, newest first, after skipping the
// skip newest.
func (l *ledger) page(skip, limit int) []Transaction {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.txs)
	out := make([]Transaction, 0, max(min(limit, n-skip), 0))
	for i := skip; i < n && len(out) < limit; i++ {
		out = append(out, l.txs[n-1-i])
	}
	return out
}

// state returns the balance, the wallet's createdAt and its updatedAt: the
// newest transaction's time, or createdAt when there is none.
func (l *ledger) state() (balance int64, created, updated time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	updated = l.created
	if n := len(l.txs); n > 0 {
		updated = l.txs[n-1].CreatedAt
	}
	return l.balance, l.created, updated
}

// Transactions returns every movement of the wallet since New, newest first,
// as GET /wallet/transactions lists them: one per charge (a POST /richiesta
// that submits, even when a fault then loses its answer; a PUT that submits
// a draft) and one per change of the balance by SetWallet or PUT
// /_sim/wallet. The wallet's balance is always its starting balance plus
// the sum of their amounts.
func (s *Server) Transactions() []Transaction {
	return s.ledger.page(0, math.MaxInt)
}
