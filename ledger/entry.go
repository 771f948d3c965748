package ledger

import (
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
)

// How an entry's request was found.
const (
	// SourcePosted: the POST's answer carried the request id.
	SourcePosted = "posted"
	// SourceReconciled: the POST's answer was lost and reconciliation
	// found the request upstream (also when an operator handed it to its
	// submission with `iseed audit adopt`, which goes through
	// reconciliation).
	SourceReconciled = "reconciled"
)

// Entry is one committed request: what it cost and for whom.
type Entry struct {
	Tenant       string `json:"tenant"`
	SubmissionID string `json:"submission_id"`
	RequestID    string `json:"request_id"`
	Service      string `json:"service"`      // nome_visura, e.g. "ISEE"
	ServiceHash  string `json:"service_hash"` // hash_visura
	// ServicePrice is the service's prezzo_visura, SearchPrice its
	// prezzo_ricerca (zero for services without a search).
	ServicePrice money.Cents `json:"service_price"`
	SearchPrice  money.Cents `json:"search_price,omitzero"`
	Options      []Option    `json:"options,omitempty"` // the options chosen, priced
	// Price is what the request costs: ServicePrice + SearchPrice + the
	// options' prices. Record refuses an entry where it is not.
	Price money.Cents `json:"price"`
	// At is when the request was committed: the upstream's
	// timestamp_creation when known, else when it was recorded. Periods
	// (Report, Entries) are read on At.
	At     time.Time `json:"at"`
	Source string    `json:"source"` // SourcePosted or SourceReconciled
	// Recorded is when the ledger stored the entry (the stream's
	// timestamp); set by Entries, never stored.
	Recorded time.Time `json:"-"`
}

// Option is a chosen option of a request and its price.
type Option struct {
	Name  string      `json:"name"`           // e.g. "opzione_0"
	Type  string      `json:"type,omitempty"` // e.g. "urgenza"
	Price money.Cents `json:"price"`
}

// ErrInvalid reports an entry Record refuses.
var ErrInvalid = errors.New("invalid ledger entry")

// Total is ServicePrice + SearchPrice + the options' prices.
func (e *Entry) Total() money.Cents {
	t := e.ServicePrice + e.SearchPrice
	for _, o := range e.Options {
		t += o.Price
	}
	return t
}

// Validate checks what Record needs: tokens safe as subject parts, a known
// source, amounts not negative, and Price equal to Total.
func (e *Entry) Validate() error {
	var problem string
	switch {
	case !record.ValidToken(e.Tenant) || !record.ValidToken(e.SubmissionID) || !record.ValidToken(e.RequestID):
		problem = "tenant, submission id and request id must be 1-64 of A-Z a-z 0-9 _ -"
	case e.ServiceHash == "":
		problem = "no service hash"
	case e.Source != SourcePosted && e.Source != SourceReconciled:
		problem = fmt.Sprintf("unknown source %q", e.Source)
	case e.ServicePrice < 0 || e.SearchPrice < 0:
		problem = "negative price"
	case e.Price != e.Total():
		problem = fmt.Sprintf("price %s is not the sum of its parts %s", e.Price, e.Total())
	}
	for _, o := range e.Options {
		if problem == "" && (o.Name == "" || o.Price < 0) {
			problem = fmt.Sprintf("option %q: want a name and a price not negative", o.Name)
		}
	}
	if problem != "" {
		return fmt.Errorf("ledger: request %s: %w: %s", e.RequestID, ErrInvalid, problem)
	}
	return nil
}
