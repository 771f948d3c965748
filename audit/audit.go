package audit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/account"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// DefaultSlack widens attempt windows when Input.Slack is zero: the
// upstream stamps creation in whole seconds with its own clock.
const DefaultSlack = 2 * time.Minute

// DefaultChargeMatch marks Visengine charges in wallet descriptions when
// Input.ChargeMatch is empty.
const DefaultChargeMatch = "visengine"

// Input is what an audit compares. Load Records, Index and Ledger first
// and Upstream after them: a request iseed recorded is then always in the
// listing. A request created meanwhile is listed with none of what names
// it read: reread, after the listing, the index entry, record and ledger
// entry of the requests a first Check finds unowned or unledgered, and
// Check again, so that only what is still unaccounted for is reported;
// while a request is unowned, add the records without a request written
// since the first read, so that its candidates include a submission
// claimed meanwhile.
type Input struct {
	Period money.Period // [From, To): requests created, records submitted, entries committed
	// Upstream is GET /richiesta: every request of the account.
	Upstream []visengine.RichiestaSummary
	// Transactions are the wallet's, since Period.From at least; nil when
	// the wallet is not checked.
	Transactions []account.Transaction
	Records      []*record.Record
	// Index is the request index: upstream request id → "<tenant>.<id>".
	Index map[string]string
	// Ledger holds the entries around the period: read a day more on each
	// side, so that a request submitted just inside the period and
	// committed just outside is still found.
	Ledger []ledger.Entry
	// Slack widens attempt windows; zero means DefaultSlack.
	Slack time.Duration
	// ChargeMatch is the substring (any case) of a wallet description
	// that marks a Visengine charge; empty means DefaultChargeMatch.
	ChargeMatch string
}

// Check compares in and returns its findings, each list in time order.
func Check(in Input) *Result {
	if in.Slack <= 0 {
		in.Slack = DefaultSlack
	}
	if in.ChargeMatch == "" {
		in.ChargeMatch = DefaultChargeMatch
	}
	a := newAuditor(in)
	r := &Result{Period: in.Period, Checked: Checked{Wallet: in.Transactions != nil}}
	r.Unowned = a.unowned(&r.Checked)
	r.Missing = a.missing(&r.Checked)
	r.Mismatches = a.upstreamMismatches()
	r.Unledgered = a.unledgered()
	if in.Transactions != nil {
		var walletMismatches []Mismatch
		walletMismatches, r.UnmatchedCharges = a.wallet(&r.Checked)
		r.Mismatches = append(r.Mismatches, walletMismatches...)
	}
	slices.SortStableFunc(r.Mismatches, func(x, y Mismatch) int {
		return cmp.Or(x.At.Compare(y.At), cmp.Compare(x.RequestID, y.RequestID), cmp.Compare(x.Against, y.Against))
	})
	return r
}

// auditor holds the inputs indexed by request id.
type auditor struct {
	in       Input
	listed   []*visengine.RichiestaSummary // in.Upstream, each request once
	upstream map[string]*visengine.RichiestaSummary
	records  map[string]*record.Record // by request id
	entries  map[string]*ledger.Entry  // by request id
}

func newAuditor(in Input) *auditor {
	a := &auditor{in: in, upstream: map[string]*visengine.RichiestaSummary{},
		records: map[string]*record.Record{}, entries: map[string]*ledger.Entry{}}
	for i := range in.Upstream {
		// A list may show a request more than once (a list made by a
		// join, a page repeated: docs/visengine.md): one request, one
		// finding, as reconciliation reads it.
		if u := &in.Upstream[i]; a.upstream[u.ID] == nil {
			a.upstream[u.ID] = u
			a.listed = append(a.listed, u)
		}
	}
	for _, rec := range in.Records {
		if rec.RequestID != "" {
			a.records[rec.RequestID] = rec
		}
	}
	for i := range in.Ledger {
		a.entries[in.Ledger[i].RequestID] = &in.Ledger[i]
	}
	return a
}

// inPeriod lists the upstream requests created in the period, oldest
// first, each once, leaving out drafts (state 0: not submitted, not
// charged). A request listed without a state, or with a null one, is no
// draft: taken for one, a request paid upstream and owned by no
// submission would never be reported.
func (a *auditor) inPeriod() []*visengine.RichiestaSummary {
	var out []*visengine.RichiestaSummary
	for _, u := range a.listed {
		if draft := u.State != nil && *u.State == 0; !draft && a.in.Period.Contains(u.TimestampCreation.Time()) {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(x, y *visengine.RichiestaSummary) int {
		return cmp.Or(cmp.Compare(x.TimestampCreation, y.TimestampCreation), cmp.Compare(x.ID, y.ID))
	})
	return out
}

func (a *auditor) unowned(c *Checked) []Unowned {
	out := []Unowned{}
	for _, u := range a.inPeriod() {
		c.Upstream++
		if _, ok := a.in.Index[u.ID]; ok || a.records[u.ID] != nil {
			continue
		}
		out = append(out, Unowned{RequestID: u.ID, Service: u.Nome, ServiceHash: u.HashVisura,
			Created: u.TimestampCreation.Time(), Price: upstreamPrice(u), StatoRichiesta: u.StatoRichiesta,
			Candidates: a.candidates(u)})
	}
	return out
}

// candidates are the records of u's service without a request whose
// attempt window covers u's creation.
//
// A record that keeps u's id (record.Record.Answered: its POST got it back
// and the request index refused it) is its one candidate, whatever its
// window: the request is that submission's, its next delivery adopts it,
// and handed to another (iseed audit adopt) it would be sent again.
func (a *auditor) candidates(u *visengine.RichiestaSummary) []Candidate {
	out := []Candidate{}
	for _, rec := range a.in.Records {
		if rec.Answered() == u.ID {
			w, _ := attemptWindow(rec) // it keeps a pending attempt: never !ok
			w = money.Period{From: w.From.Add(-a.in.Slack), To: w.To.Add(a.in.Slack)}
			return append(out, Candidate{Tenant: rec.Tenant, SubmissionID: rec.ID, State: rec.State, Reason: rec.Reason, Window: w})
		}
	}
	created := u.TimestampCreation.Time()
	for _, rec := range a.in.Records {
		if rec.RequestID != "" || rec.ServiceHash != u.HashVisura {
			continue
		}
		w, ok := attemptWindow(rec)
		if !ok {
			continue
		}
		w = money.Period{From: w.From.Add(-a.in.Slack), To: w.To.Add(a.in.Slack)}
		if w.Contains(created) {
			out = append(out, Candidate{Tenant: rec.Tenant, SubmissionID: rec.ID, State: rec.State, Reason: rec.Reason, Window: w})
		}
	}
	return out
}

// attemptWindow is when a record's POST may have created a request: the
// pending attempt, from its start to the later of its lease and its settle
// time; or, for a record failed ambiguous without one, from its claim to
// its failure. ok is false for records whose POSTs are all accounted for.
func attemptWindow(rec *record.Record) (money.Period, bool) {
	if p := rec.Pending; rec.PostInDoubt() {
		from := p.Started
		if from.IsZero() {
			from = rec.Created
		}
		return money.Period{From: from, To: later(p.Until, p.Settle)}, true
	}
	if rec.State == record.StateFailed && rec.Reason == dlq.ReasonAmbiguous {
		return money.Period{From: rec.Created, To: later(rec.EnteredAt(record.StateFailed), rec.Updated)}, true
	}
	return money.Period{}, false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// missing lists requests iseed names (records submitted, entries committed
// in the period) that the upstream does not list.
func (a *auditor) missing(c *Checked) []Missing {
	byID := map[string]*Missing{}
	note := func(id, tenant, sub, source string, at time.Time, price money.Cents) {
		if a.upstream[id] != nil {
			return
		}
		m := byID[id]
		if m == nil {
			m = &Missing{RequestID: id, Tenant: tenant, SubmissionID: sub, At: at}
			byID[id] = m
		}
		m.Sources = append(m.Sources, source)
		m.Price = max(m.Price, price)
	}
	for _, rec := range a.recordsInPeriod() {
		c.Records++
		note(rec.RequestID, rec.Tenant, rec.ID, "record", rec.SubmittedAt(), recordPrice(rec))
	}
	for _, e := range a.entriesInPeriod() {
		c.Ledger++
		note(e.RequestID, e.Tenant, e.SubmissionID, "ledger", e.At, e.Price)
	}
	out := []Missing{}
	for _, m := range byID {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(x, y Missing) int { return cmp.Or(x.At.Compare(y.At), cmp.Compare(x.RequestID, y.RequestID)) })
	return out
}

// upstreamMismatches compares each entry of the period with the listing.
func (a *auditor) upstreamMismatches() []Mismatch {
	out := []Mismatch{}
	for _, e := range a.entriesInPeriod() {
		u := a.upstream[e.RequestID]
		if u == nil {
			continue // missing
		}
		want := upstreamPrice(u) + e.Price - e.ServicePrice - e.SearchPrice // the listing has no options
		if want != e.Price {
			out = append(out, Mismatch{RequestID: e.RequestID, Tenant: e.Tenant, SubmissionID: e.SubmissionID,
				Against: AgainstUpstream, Ledger: e.Price, Other: want, At: e.At})
		}
	}
	return out
}

// unledgered lists the requests iseed owns, submitted in the period and
// listed upstream, without an entry: those its records name, and those of
// the period only the index names (a crash between indexing and
// recording). A request the upstream does not list is missing instead.
func (a *auditor) unledgered() []Unledgered {
	out := []Unledgered{}
	for _, rec := range a.recordsInPeriod() {
		if a.entries[rec.RequestID] == nil && a.upstream[rec.RequestID] != nil { // not upstream: missing
			out = append(out, Unledgered{RequestID: rec.RequestID, Tenant: rec.Tenant, SubmissionID: rec.ID,
				State: rec.State, Service: rec.Service, At: rec.SubmittedAt()})
		}
	}
	for _, u := range a.inPeriod() {
		key, ok := a.in.Index[u.ID]
		if _, disowned := record.DisownedFor(key); !ok || disowned || a.records[u.ID] != nil || a.entries[u.ID] != nil {
			continue // a request an operator declared not iseed's is nobody's to enter
		}
		tenant, sub, _ := strings.Cut(key, ".")
		out = append(out, Unledgered{RequestID: u.ID, Tenant: tenant, SubmissionID: sub, Service: u.Nome, At: u.TimestampCreation.Time()})
	}
	slices.SortFunc(out, func(x, y Unledgered) int { return cmp.Or(x.At.Compare(y.At), cmp.Compare(x.RequestID, y.RequestID)) })
	return out
}

func (a *auditor) recordsInPeriod() []*record.Record {
	var out []*record.Record
	for _, rec := range a.in.Records {
		if rec.RequestID != "" && a.in.Period.Contains(rec.SubmittedAt()) {
			out = append(out, rec)
		}
	}
	slices.SortFunc(out, func(x, y *record.Record) int {
		return cmp.Or(x.SubmittedAt().Compare(y.SubmittedAt()), cmp.Compare(x.RequestID, y.RequestID))
	})
	return out
}

func (a *auditor) entriesInPeriod() []*ledger.Entry {
	var out []*ledger.Entry
	for i := range a.in.Ledger {
		if e := &a.in.Ledger[i]; a.in.Period.Contains(e.At) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(x, y *ledger.Entry) int { return cmp.Or(x.At.Compare(y.At), cmp.Compare(x.RequestID, y.RequestID)) })
	return out
}

// recordPrice is the price a record noted (prezzo_visura and options), in
// cents; zero when it has none.
func recordPrice(rec *record.Record) money.Cents {
	if rec.Price == nil {
		return 0
	}
	p, err := money.FromFloat(*rec.Price)
	if err != nil {
		return 0
	}
	return p
}

// upstreamPrice is a listed request's price without options, in cents;
// an unreadable price counts as zero and shows as a mismatch.
func upstreamPrice(u *visengine.RichiestaSummary) money.Cents {
	p, err1 := money.FromFloat(float64(u.PrezzoVisura))
	s, err2 := money.FromFloat(float64(u.PrezzoRicerca))
	if err1 != nil || err2 != nil {
		return 0
	}
	return p + s
}
