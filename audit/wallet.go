package audit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/account"
	"github.com/iseed-dev/iseed/money"
)

// wallet compares the period's Visengine charges with the ledger. When
// charges name their requests, each request's charges are compared with
// its entry (an entry without a charge shows as charged 0), and a charge
// naming no request the upstream or the ledger knows, or a request of
// another period more than the slack after its creation, is unmatched. A
// charge may be stamped a little after its request's creation, so charges
// up to the slack outside the period count for the period's entries. When
// no charge names a request, only the totals can be compared.
func (a *auditor) wallet(c *Checked) ([]Mismatch, []Charge) {
	p := a.in.Period
	wide := money.Period{From: p.From.Add(-a.in.Slack), To: p.To.Add(a.in.Slack)}
	charges := a.charges(wide)
	var strict []account.Transaction
	for _, t := range charges {
		if p.Contains(t.CreatedAt) {
			strict = append(strict, t)
		}
	}
	c.Transactions = len(strict)
	if !slices.ContainsFunc(charges, func(t account.Transaction) bool { return t.RequestID() != "" }) {
		var late []account.Transaction // from the period's start to the slack past its end
		for _, t := range charges {
			if !t.CreatedAt.Before(p.From) {
				late = append(late, t)
			}
		}
		return a.walletTotal(late), []Charge{}
	}
	charged := map[string]money.Cents{}
	unmatched := []Charge{}
	for _, t := range charges {
		id := t.RequestID()
		e := a.entries[id]
		switch {
		case id != "" && e != nil && p.Contains(e.At):
			charged[id] += -t.Amount
		case id != "" && a.accounted(id, t):
			// Another period's request, charged when it was created, or
			// one of this period reported unowned or unledgered: not a
			// charge without a request.
		case p.Contains(t.CreatedAt):
			unmatched = append(unmatched, Charge{TransactionID: t.ID, Amount: t.Amount, CreatedAt: t.CreatedAt, RequestID: id})
		}
	}
	var out []Mismatch
	for _, e := range a.entriesInPeriod() {
		if got := charged[e.RequestID]; got != e.Price {
			out = append(out, Mismatch{RequestID: e.RequestID, Tenant: e.Tenant, SubmissionID: e.SubmissionID,
				Against: AgainstWallet, Ledger: e.Price, Other: got, At: e.At})
		}
	}
	slices.SortFunc(unmatched, func(x, y Charge) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), cmp.Compare(x.TransactionID, y.TransactionID))
	})
	return out, unmatched
}

// accounted reports whether a charge naming request id is another
// finding's or another period's business: the request was created in the
// period (without an entry it is reported unowned or unledgered), or in
// another period with the charge stamped at most the slack after it (that
// period's audit counts it). A charge the slack or more after a request of
// another period (a draft made outside iseed and submitted later, a second
// charge) is counted by no period: it is this period's unmatched charge.
func (a *auditor) accounted(id string, t account.Transaction) bool {
	var created time.Time
	if e := a.entries[id]; e != nil {
		created = e.At
	} else if u := a.upstream[id]; u != nil {
		created = u.TimestampCreation.Time()
	} else {
		return false
	}
	return a.in.Period.Contains(created) || !t.CreatedAt.After(created.Add(a.in.Slack))
}

// walletTotal compares the sums of the period's entries and of charges,
// those from the period's start to the slack past its end: a charge comes
// up to the slack after its request, so every entry of the period is
// charged there, and so may be the entries up to the slack before the
// period's start and after its end. Which of those were is unknown, so the
// charges must come to at least the period's entries and at most that plus
// those neighbours'.
func (a *auditor) walletTotal(charges []account.Transaction) []Mismatch {
	p, slack := a.in.Period, a.in.Slack
	before := money.Period{From: p.From.Add(-slack), To: p.From}
	after := money.Period{From: p.To, To: p.To.Add(slack)}
	var charged, entered, neighbours money.Cents
	for _, t := range charges {
		charged += -t.Amount
	}
	for _, e := range a.in.Ledger {
		switch {
		case p.Contains(e.At):
			entered += e.Price
		case before.Contains(e.At), after.Contains(e.At):
			neighbours += e.Price
		}
	}
	if charged >= entered && charged <= entered+neighbours {
		return nil
	}
	return []Mismatch{{Against: AgainstWalletTotal, Ledger: entered, Other: charged, At: p.From}}
}

// charges are the transactions created in p that charge for Visengine.
func (a *auditor) charges(p money.Period) []account.Transaction {
	match := strings.ToLower(a.in.ChargeMatch)
	var out []account.Transaction
	for _, t := range a.in.Transactions {
		if t.Amount < 0 && p.Contains(t.CreatedAt) && strings.Contains(strings.ToLower(t.Description), match) {
			out = append(out, t)
		}
	}
	return out
}
