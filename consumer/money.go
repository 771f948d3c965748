package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
)

// Money. With spending caps (Deps.Budget), a submission to which a cap
// applies (its tenant's or the account's; capsview.go keeps which) reserves
// its price against them before its first POST; a cap it would exceed holds it
// (state held, a held event, its message acknowledged) until the caps allow
// it, when RunHolds sends it again, oldest first per tenant. The
// reservation is given back when the POST definitely created nothing, and
// committed once the request is recorded. Every recorded request is entered
// in the ledger (Deps.Ledger) with its price, whatever found it.
//
// A service whose schema publishes no prezzo_visura, or an option chosen
// whose schema publishes no prezzo, has no known price
// (schema.Prepared.PriceUnknown), which a euro cap cannot count: reserved
// at 0, it was never bound by one while the upstream may charge for it.
// While a euro cap applies to it, such a submission is held (code
// unknown_price) and nothing is sent; where none does, it goes as any,
// reserving what is known of its price against the request caps, and the
// ledger enters what the answer says it cost.

// Budget is the part of budget.Budgets the pipeline uses.
type Budget interface {
	Reserve(ctx context.Context, tenant, submissionID string, amount money.Cents, now time.Time) (budget.Reservation, error)
	Release(ctx context.Context, r budget.Reservation) error
	Commit(ctx context.Context, r budget.Reservation) error
	// AllowsUnpriced is nil when no euro cap applies to tenant, else a
	// *budget.UnpricedError.
	AllowsUnpriced(ctx context.Context, tenant string) error
}

// Ledger enters paid requests.
type Ledger interface {
	Record(ctx context.Context, e ledger.Entry) error
}

// reserve counts the submission's price against the caps before its POST.
// done is true when the outcome ends the delivery: held, or transient
// trouble.
func (p *Pipeline) reserve(ctx context.Context, j *job) (Outcome, bool) {
	if p.d.Budget == nil {
		return Outcome{}, false
	}
	amount, err := money.FromFloat(j.prep.Price)
	if err != nil {
		return p.retry(fmt.Errorf("price %v: %w", j.prep.Price, err), 0), true
	}
	// Whether an earlier delivery reserved (a read of the caps' usage),
	// asked at most once.
	var before *bool
	reservedBefore := func() bool {
		if before == nil {
			b := p.reservedBefore(ctx, j)
			before = &b
		}
		return *before
	}
	// A submission never held goes behind its tenant's held ones, and a
	// tenant with its share of the submissions waiting for the upstream
	// budget (turns.go) steps aside; but not a released one (RunHolds
	// released it in its turn, or its event came again: the caps decide),
	// one with an earlier POST in doubt (it must reconcile) nor one that
	// reserved before (it has its room already).
	if j.rec.HeldSince.IsZero() && !j.unsure {
		queued, full := p.holds.waiting(j.tenant, j.sub.ID), !p.turns.room(j.tenant)
		if (queued || full) && !reservedBefore() {
			cause := errTurn
			if queued {
				cause = p.queuedCause(j.tenant) // older held submissions of the tenant go first
			}
			o := p.hold(ctx, j, cause)
			if errors.Is(cause, errTurn) {
				p.turns.poke() // a wait that ended while it was held found no hold to release
			}
			return o, true
		}
	}
	if p.caps.uncapped(j.tenant) && (j.created || !reservedBefore()) {
		return Outcome{}, false // no cap applies: nothing to count against (capsview.go)
	}
	if j.prep.PriceUnknown && !j.unsure {
		// With an earlier POST in doubt, reconciling comes first, as over a cap.
		var unpriced *budget.UnpricedError
		switch err := p.d.Budget.AllowsUnpriced(ctx, j.tenant); {
		case errors.As(err, &unpriced):
			return p.hold(ctx, j, unpriced), true
		case err != nil:
			return p.retry(fmt.Errorf("reserve: %w", err), 0), true
		}
	}
	// A reservation an earlier delivery made under caps removed since is
	// the submission's all the same: taken up as when caps apply, it is
	// committed with the request or given back when none was created.
	// Left alone, it stayed counted until its usage key expired, and caps
	// set again bound early.
	res, err := p.d.Budget.Reserve(ctx, j.tenant, j.sub.ID, amount, p.cfg.Now())
	if err == nil && res.Amount < amount && !j.unsure {
		// An earlier delivery reserved at a lower price and stopped before
		// its POST (the wallet empty, a crash); the price has risen since
		// (the schema refreshed). Reserve returns that reservation as it
		// was made: posted under it, the caps would count less than the
		// request is sent for, and let the tenant's next ones past them.
		// With no POST in doubt nothing was charged: it goes back, and the
		// price is reserved anew (or the caps hold the submission). Only
		// under this delivery's live lease: given back after it ran out,
		// it could be the one a delivery that took the submission over
		// spends (Release goes by the submission, not the amount).
		if !p.ownsLease(ctx, j) {
			return p.retry(errors.New("reserve: the lease ended before a reservation made at a lower price could be given back"), 0), true
		}
		if err := p.d.Budget.Release(ctx, res); err != nil {
			return p.retry(fmt.Errorf("reserve: give back a reservation made at a lower price: %w", err), 0), true
		}
		j.res = nil // given back: what follows holds this delivery's, if any
		res, err = p.d.Budget.Reserve(ctx, j.tenant, j.sub.ID, amount, p.cfg.Now())
	}
	var over *budget.OverBudgetError
	var paused *budget.PausedError
	switch {
	case errors.As(err, &paused) && !j.unsure:
		return p.hold(ctx, j, paused), true
	case errors.As(err, &over) && !j.unsure:
		return p.hold(ctx, j, over), true
	case errors.As(err, &over) || errors.As(err, &paused):
		// An earlier attempt may have created (and charged) the request:
		// reconciling comes first, whatever the caps say now.
		return Outcome{}, false
	case err != nil:
		return p.retry(fmt.Errorf("reserve: %w", err), 0), true
	}
	j.res = &res
	return Outcome{}, false
}

// ownsLease reports whether the job's record is still at the revision
// the job holds, under the job's lease with more than leaseMargin left:
// no other delivery can take the submission over before then.
func (p *Pipeline) ownsLease(ctx context.Context, j *job) bool {
	rec, rev, err := p.store.Get(ctx, j.tenant, j.sub.ID)
	if err != nil || rev != j.rev {
		return false
	}
	pa := rec.Pending
	return pa != nil && pa.Owner == j.owner && pa.Until.Sub(p.cfg.Now()) > leaseMargin
}

// repriced reports whether the job's reservation was made at a lower
// price than the submission's now: reserve gives it back and reserves anew.
func (j *job) repriced() bool {
	amount, err := money.FromFloat(j.prep.Price)
	return j.res != nil && err == nil && j.res.Amount < amount
}

// reservedBefore reports whether an earlier delivery of the submission
// reserved (and stopped before its POST: a crash, a shutdown, a retry), so
// that its reservation is still held. The caps admitted it before the
// tenant's held submissions, which may be waiting for the very room it
// occupies: it goes on (Reserve gives it back), not behind them. An error
// is taken as no: the submission queues, as it would have.
func (p *Pipeline) reservedBefore(ctx context.Context, j *job) bool {
	l, ok := p.d.Budget.(reservationLookup)
	if !ok {
		return false
	}
	_, held, err := l.Lookup(ctx, j.tenant, j.sub.ID, p.cfg.Now())
	return err == nil && held
}

// heldReservation makes the reservation an earlier delivery of the
// submission left held this delivery's, so that failing it gives it back:
// a released hold's delivery that reserved and stopped before its POST
// (the wallet empty, transient trouble) keeps it for the next delivery
// (Reserve gives it back to it), and a hold failed expired has none. Where
// nothing was sent, fail gives it back once the record says so on the
// revision this delivery holds; where an earlier POST's request is
// adopted, it is committed with it (adopt). A lookup that fails leaves it
// counted until its day ends: the count errs high, never low.
func (p *Pipeline) heldReservation(ctx context.Context, j *job) {
	l, ok := p.d.Budget.(reservationLookup)
	if j.res != nil || !ok {
		return
	}
	if res, held, err := l.Lookup(ctx, j.tenant, j.sub.ID, p.cfg.Now()); err == nil && held {
		j.res = &res
	}
}

// reservationLookup is the part of budget.Budgets that finds a held
// reservation.
type reservationLookup interface {
	Lookup(ctx context.Context, tenant, submissionID string, now time.Time) (budget.Reservation, bool, error)
}

// errQueued holds a submission behind its tenant's older held ones.
var errQueued = errors.New("older submissions of this tenant are held and go first")

// queuedCause is why a submission is held behind its tenant's older held
// ones: a pause of the account or the tenant when the caps view has one
// (the tenant is told it is paused, not that a cap holds it), else
// errQueued. It reads nothing: a tenant's backlog held behind a cap would
// read the caps once per submission.
func (p *Pipeline) queuedCause(tenant string) error {
	if s, ok := p.caps.pausedScope(tenant); ok {
		return &budget.PausedError{Scope: s}
	}
	if !p.turns.room(tenant) {
		return errTurn
	}
	return errQueued
}

// hold puts a submission on hold: first in the holds bucket (so that
// RunHolds finds it even if what follows fails), then in its record, then
// in the holds bucket again. A pass that read the record before it said
// held, its lease ended (a delivery this slow), took the key for a
// released one's and may have removed it in between: held with no key,
// the submission was never released nor expired. Written again, the key
// is there whichever came first (a pass removes a key only at the
// revision it read).
func (p *Pipeline) hold(ctx context.Context, j *job, cause error) Outcome {
	now := p.cfg.Now()
	since := j.rec.HeldSince
	if since.IsZero() {
		since = now
	}
	if err := p.holds.put(ctx, j.tenant, j.sub.ID, since, j.meta.Sequence.Stream, j.msg.Subject()); err != nil {
		return p.retry(err, 0)
	}
	next := j.rec.Clone()
	next.To(record.StateHeld, now, "budget")
	next.HeldSince = since
	if j.prep != nil {
		// The price this delivery asked the caps for, which the holds pass
		// (allows) and the spend page ask them for again: the one noted at
		// the first delivery may be another since (the schema refreshed).
		// Risen, the pass released the submission whenever the caps had
		// room for the old price, and its delivery was held again, a
		// message and a held transition each pass; fallen, it waited for
		// more room than it needs.
		price := j.prep.Price
		next.Price = &price
	}
	next.Reason = "budget"
	next.Errors = []publisher.Problem{{Code: holdCode(cause), Message: holdMessage(cause)}}
	next.Pending = nil
	j.uncount(next)
	rev, err := p.store.Update(ctx, next, j.rev)
	if err != nil {
		return p.retry(fmt.Errorf("record hold: %w", err), 0)
	}
	j.rec, j.rev = next, rev
	if err := p.holds.put(ctx, j.tenant, j.sub.ID, since, j.meta.Sequence.Stream, j.msg.Subject()); err != nil {
		return p.retry(err, 0) // the next delivery finds the record held, and holds it again
	}
	return Outcome{Kind: Held, Reason: "budget", Err: cause, Record: next, Event: next.Status(record.StateHeld)}
}

func holdCode(err error) string {
	var over *budget.OverBudgetError
	var unpriced *budget.UnpricedError
	var paused *budget.PausedError
	switch {
	case errors.As(err, &over):
		return over.Code()
	case errors.As(err, &unpriced):
		return unpriced.Code()
	case errors.As(err, &paused):
		return paused.Code()
	case errors.Is(err, errTurn):
		return publisher.HeldFairShare
	}
	return publisher.HeldQueued
}

// heldUnpriced reports whether a held record is held because its price is
// unknown and a euro cap applies (not behind older holds, not by a cap's
// room).
func heldUnpriced(rec *record.Record) bool {
	return len(rec.Errors) == 1 && rec.Errors[0].Code == budget.CodeUnknownPrice
}

// holdMessage is what the held event tells the tenant of the cap that
// holds its submission: its own caps whole (the limit, what it used and
// asked, until when); of the account's, which count every tenant's
// spending, only which cap and until when. With two tenants, the
// account's use less a tenant's own is the other's. The log line keeps
// the whole error, for operators.
func holdMessage(err error) string {
	var over *budget.OverBudgetError
	if errors.As(err, &over) && over.Scope.IsAccount() {
		return fmt.Sprintf("budget: a cap of the account (%s) is reached until %s", over.Code(), over.Until.Format(time.RFC3339))
	}
	return err.Error()
}

// release gives the reservation back: the POST definitely created nothing.
func (p *Pipeline) releaseReservation(ctx context.Context, j *job) {
	if j.res == nil || p.d.Budget == nil {
		return
	}
	if err := p.d.Budget.Release(context.WithoutCancel(ctx), *j.res); err != nil {
		// It stays counted until its day ends: the count errs high, never low.
		p.log.Warn().Err(err).Str("tenant", j.tenant).Str("submission", j.sub.ID).Msg("cannot give a reservation back")
	}
	j.res = nil
}

// charge describes what the request r costs, for the record and the ledger.
func (p *Pipeline) charge(j *job, r *visengine.Richiesta, source string) *record.Charge {
	c := &record.Charge{Source: source, At: r.TimestampCreation.Time()}
	if c.At.IsZero() {
		c.At = p.cfg.Now()
	}
	service := float64(r.PrezzoVisura)
	if service == 0 && j.svc != nil {
		service = j.svc.Price
	}
	c.ServicePrice, _ = money.FromFloat(service)
	c.SearchPrice, _ = money.FromFloat(float64(r.PrezzoRicerca))
	c.Total = c.ServicePrice + c.SearchPrice
	if j.svc != nil {
		for _, o := range j.svc.Options {
			if chosen(j, r, o.Name) {
				price, _ := money.FromFloat(optionPrice(o, r))
				c.Options = append(c.Options, record.ChargeOption{Name: o.Name, Type: o.Type, Price: price})
				c.Total += price
			}
		}
	}
	return c
}

// optionPrice is what the option o cost in the request r: its schema's
// price, or, where the schema publishes none (o.PriceUnknown), what the
// answer's opzioni say, as the service's own price comes from the answer.
// 0 when neither says: the ledger errs low only where nothing is known.
func optionPrice(o schema.Option, r *visengine.Richiesta) float64 {
	if !o.PriceUnknown {
		return o.Price
	}
	for _, ro := range r.Opzioni {
		if ro.Nome == o.Name && ro.Prezzo.Valid {
			return float64(ro.Prezzo.Float)
		}
	}
	return 0
}

// chosen reports whether the request r was created with the option named
// name: as this delivery prepared the input, or, when it could not (a
// request an earlier POST got back, adopted whatever the schema or the
// limits say now: answeredBefore), as the request itself records it.
func chosen(j *job, r *visengine.Richiesta, name string) bool {
	if j.prep != nil {
		return j.prep.Opzioni[name]
	}
	return slices.ContainsFunc(r.Opzioni, func(o visengine.Opzione) bool { return o.Nome == name })
}

// spent enters a recorded request in the ledger and commits its
// reservation; both are idempotent, so a re-announced submission repeats
// them harmlessly. An entry the ledger refuses is logged, not retried:
// the request is paid whatever its bookkeeping says.
func (p *Pipeline) spent(ctx context.Context, r *record.Record) error {
	if r == nil || r.RequestID == "" {
		return nil
	}
	if p.d.Ledger != nil && r.Charge != nil {
		err := p.d.Ledger.Record(ctx, ledgerEntry(r))
		switch {
		case errors.Is(err, ledger.ErrInvalid), errors.Is(err, ledger.ErrForeign):
			// Refused on every delivery alike (an entry the ledger cannot
			// take, or a subject another message holds for good): the
			// request is paid, and nakked for it the submission would run
			// out of deliveries, dead-lettered and never tracked, its
			// reservation never committed. It goes on unentered; the
			// audit reports it unledgered (docs/money.md).
			p.log.Error().Str("tenant", r.Tenant).Str("submission", r.ID).Str("request_id", r.RequestID).
				Str("error", err.Error()).Msg("the ledger refuses the entry of a paid request: it is recorded and tracked, not entered")
		case err != nil:
			return fmt.Errorf("ledger: %w", err)
		}
	}
	if p.d.Budget != nil && r.Reserved != nil {
		res := budget.Reservation{Tenant: r.Tenant, SubmissionID: r.ID, Amount: r.Reserved.Amount, Day: r.Reserved.Day}
		if err := p.d.Budget.Commit(ctx, res); err != nil {
			return fmt.Errorf("commit reservation: %w", err)
		}
	}
	return nil
}

// fillService gives r, a record of the job's submission, the service name
// and hash it lacks (a record written or restored by hand: the claim has
// always kept them): the ledger refuses an entry without a hash, and
// tracking schedules its polls by it. The request's own (req, when known) come
// first, then the service the job resolved. It reports whether it filled
// anything.
func fillService(r *record.Record, j *job, req *visengine.Richiesta) bool {
	name, hash := "", ""
	if j.svc != nil {
		name, hash = j.svc.Name, j.svc.Hash
	}
	if req != nil {
		name, hash = cmp.Or(req.Nome, name), cmp.Or(req.HashVisura, hash)
	}
	filled := false
	if r.ServiceHash == "" && hash != "" {
		r.ServiceHash, filled = hash, true
	}
	if r.Service == "" && name != "" {
		r.Service, filled = name, true
	}
	return filled
}

// ledgerEntry is the ledger's entry of a recorded request.
func ledgerEntry(r *record.Record) ledger.Entry {
	c := r.Charge
	e := ledger.Entry{Tenant: r.Tenant, SubmissionID: r.ID, RequestID: r.RequestID, Service: r.Service,
		ServiceHash: r.ServiceHash, ServicePrice: c.ServicePrice, SearchPrice: c.SearchPrice, Price: c.Total,
		At: c.At, Source: c.Source}
	for _, o := range c.Options {
		e.Options = append(e.Options, ledger.Option{Name: o.Name, Type: o.Type, Price: o.Price})
	}
	return e
}

// sourceOf maps an adoption's note to the ledger's source.
func sourceOf(note string) string {
	if strings.HasPrefix(note, "reconciled") {
		return ledger.SourceReconciled
	}
	return ledger.SourcePosted
}
