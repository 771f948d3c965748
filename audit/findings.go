package audit

import (
	"time"

	"github.com/iseed-dev/iseed/money"
)

// Unowned is a request the upstream created (and charged) that no
// submission owns: neither the request index nor any record names it.
// Usually a POST whose answer was lost; Candidates are the submissions
// that may have made it.
type Unowned struct {
	RequestID      string      `json:"request_id"`
	Service        string      `json:"service"`
	ServiceHash    string      `json:"service_hash"`
	Created        time.Time   `json:"created"`         // timestamp_creation
	Price          money.Cents `json:"price"`           // prezzo_visura + prezzo_ricerca; options are not listed
	StatoRichiesta string      `json:"stato_richiesta"` // the upstream state
	Candidates     []Candidate `json:"candidates"`
}

// Candidate is a submission of the same service, without a request, whose
// POST may have created an unowned request: failed ambiguous, or with an
// attempt still pending, and its attempt window covers the creation.
type Candidate struct {
	Tenant       string       `json:"tenant"`
	SubmissionID string       `json:"submission_id"`
	State        string       `json:"state"`
	Reason       string       `json:"reason,omitempty"`
	Window       money.Period `json:"window"` // the attempt, widened by the slack
}

// Missing is a request iseed says exists (a record's request id, or a
// ledger entry) that the upstream does not list.
type Missing struct {
	RequestID    string      `json:"request_id"`
	Tenant       string      `json:"tenant"`
	SubmissionID string      `json:"submission_id"`
	At           time.Time   `json:"at"`      // submitted (record) or committed (ledger)
	Sources      []string    `json:"sources"` // "record", "ledger"
	Price        money.Cents `json:"price"`   // the ledger's or the record's price; 0 when neither has one
}

// Mismatch is a price iseed entered that the upstream or the wallet
// disagrees with.
type Mismatch struct {
	RequestID    string      `json:"request_id,omitempty"` // empty for AgainstWalletTotal
	Tenant       string      `json:"tenant,omitempty"`
	SubmissionID string      `json:"submission_id,omitempty"`
	Against      string      `json:"against"` // AgainstUpstream, AgainstWallet or AgainstWalletTotal
	Ledger       money.Cents `json:"ledger"`  // what the ledger entered (a sum for AgainstWalletTotal)
	Other        money.Cents `json:"other"`   // the upstream's price, or what the wallet charged
	At           time.Time   `json:"at"`
}

// What a Mismatch compares the ledger with.
const (
	// AgainstUpstream: the listing's prezzo_visura + prezzo_ricerca, plus
	// the options the entry names (the listing has none).
	AgainstUpstream = "upstream"
	// AgainstWallet: the charges naming the request (0 when none does).
	AgainstWallet = "wallet"
	// AgainstWalletTotal: when no charge names a request, the Visengine
	// charges from the period's start to the slack past its end together
	// against the period's entries together (allowing for the entries
	// within the slack of either end).
	AgainstWalletTotal = "wallet_total"
)

// Unledgered is a request iseed owns with no ledger entry: spent, not
// accounted.
type Unledgered struct {
	RequestID    string    `json:"request_id"`
	Tenant       string    `json:"tenant"`
	SubmissionID string    `json:"submission_id"`
	State        string    `json:"state,omitempty"` // the record's; empty when only the index owns it
	Service      string    `json:"service,omitempty"`
	At           time.Time `json:"at"`
}

// Charge is a wallet charge for Visengine that matches no request iseed
// or the upstream knows.
type Charge struct {
	TransactionID string      `json:"transaction_id"`
	Amount        money.Cents `json:"amount"`
	CreatedAt     time.Time   `json:"created_at"`
	RequestID     string      `json:"request_id,omitempty"` // the id its description names, if any
}

// Counts are the findings of each kind.
type Counts struct {
	Unowned          int `json:"unowned"`
	Missing          int `json:"missing"`
	Mismatches       int `json:"mismatches"`
	Unledgered       int `json:"unledgered"`
	UnmatchedCharges int `json:"unmatched_charges"`
}

// Checked counts what the audit looked at in the period.
type Checked struct {
	Upstream     int  `json:"upstream"`     // requests created in the period
	Records      int  `json:"records"`      // records with a request submitted in the period
	Ledger       int  `json:"ledger"`       // entries committed in the period
	Transactions int  `json:"transactions"` // Visengine charges in the period
	Wallet       bool `json:"wallet"`       // whether transactions were given
}

// Result is an audit's findings.
type Result struct {
	Period           money.Period `json:"period"`
	Checked          Checked      `json:"checked"`
	Unowned          []Unowned    `json:"unowned"`
	Missing          []Missing    `json:"missing"`
	Mismatches       []Mismatch   `json:"mismatches"`
	Unledgered       []Unledgered `json:"unledgered"`
	UnmatchedCharges []Charge     `json:"unmatched_charges"`
}

// Counts returns how many findings of each kind r holds.
func (r *Result) Counts() Counts {
	return Counts{Unowned: len(r.Unowned), Missing: len(r.Missing), Mismatches: len(r.Mismatches),
		Unledgered: len(r.Unledgered), UnmatchedCharges: len(r.UnmatchedCharges)}
}

// Clean reports whether r found nothing: the CLI exits non-zero otherwise.
func (r *Result) Clean() bool { return r.Counts() == Counts{} }
