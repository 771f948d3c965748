package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/workpool"
)

// Reconciliation: what iseed can prove about a POST whose answer was lost.
//
// A candidate is an upstream request of the same service created between
// the submission's first attempt and the moment its last attempt settled
// (both widened by ReconcileSkew). Each candidate is ours, not ours, or
// unknown:
//
//   - ours: the request index says so, or the request carries this
//     submission's marker (its callback_data: the URL naming the tenant
//     and id, and the secret only iseed can compute);
//   - not ours: the index gives it to another submission; it carries
//     another submission's marker; or something it records differs from
//     what this submission sent (an input value, email_target, options);
//   - unknown: anything else. A request that merely records the same input
//     is not proof: another submission (another tenant's, even) may carry
//     the same person's data.
//
// One that is ours is adopted. An unknown one may be another submission's
// whose index entry is late (the worker that got the answer retries it for
// AdoptGrace): it is read again until AdoptGrace after its creation, and
// then, still unknown, dead-letters the submission as ambiguous: a person
// decides (iseed audit), iseed never guesses. With
// none, nothing the attempt could have created exists yet; sending again is
// safe only once the attempt has settled, so until then the upstream is
// read again at growing intervals (a late commit is adopted when it shows).
//
// When every POST of the attempt carried the marker (callbacks on), a
// candidate without it is not the attempt's own, provided the upstream
// keeps callback_data as sent; TrustMarkerEcho says to rely on that.
// Without it such a candidate is unknown, the conservative choice.

// verdict is what one candidate is to the submission reconciling.
type verdict int

const (
	notOurs verdict = iota
	ours
	unknown
)

// minCheck and maxCheck bound the interval between two reads of the
// upstream while an unanswered POST settles.
const (
	minCheck = 2 * time.Second
	maxCheck = 5 * time.Minute
)

// settleAt is when reconciling can trust that an unanswered POST created
// no request: ReconcileSettle after the call gave up (this delivery's, or
// one recorded by an earlier delivery), or after the lease a crashed
// worker's call was bounded by.
func (p *Pipeline) settleAt(j *job) time.Time {
	if !j.settle.IsZero() {
		return j.settle
	}
	return p.settleOf(j.rec.Pending)
}

// settleOf is when an attempt recorded by an earlier delivery settles.
func (p *Pipeline) settleOf(pa *record.Attempt) time.Time {
	switch {
	case pa == nil:
		return time.Time{}
	case !pa.Settle.IsZero():
		return pa.Settle
	default: // its worker crashed: its call was bounded by the lease
		return pa.Until.Add(p.cfg.ReconcileSettle)
	}
}

// resolveUnsure finds out what an earlier, unanswered POST did before any
// new one: it adopts the request that is provably the submission's, fails
// the submission as ambiguous when a candidate cannot be told apart, and
// otherwise waits (in process, or by ending the delivery) and reads again
// until the attempt has settled. With done false and no error, sending is
// safe; an error is transient trouble reading the upstream.
func (p *Pipeline) resolveUnsure(ctx context.Context, j *job, deadline time.Time) (o Outcome, done bool, err error) {
	for {
		found, unknowns, claimBy, err := p.reconcile(ctx, j)
		now := p.cfg.Now()
		switch {
		case errors.Is(err, errAmbiguous):
			return p.fail(ctx, j, dlq.ReasonAmbiguous, err), true, nil
		case err != nil:
			return Outcome{}, false, err
		case found != nil:
			return p.adopt(ctx, j, found, "reconciled"), true, nil
		case len(unknowns) > 0 && !now.Before(claimBy):
			// The candidates may be other tenants' requests: the record and
			// the failed event, which the tenant reads, say how many; their
			// ids go only where operators look (the dead letter, the log line).
			o := p.fail(ctx, j, dlq.ReasonAmbiguous, fmt.Errorf("%w: %d upstream request(s) of this service created while the POST was unanswered, none provably this submission's: an operator must decide",
				errAmbiguous, len(unknowns)))
			o.Err = fmt.Errorf("%w (candidates: %s)", o.Err, strings.Join(unknowns, ", "))
			return o, true, nil
		}
		// An unknown candidate may still be claimed by the submission whose
		// answered POST created it (its index write retries for AdoptGrace):
		// read again until then.
		settle := p.settleAt(j)
		if len(unknowns) > 0 && claimBy.After(settle) {
			settle = claimBy
		}
		if !now.Before(settle) {
			j.unsure = false
			return Outcome{}, false, nil
		}
		wait := min(settle.Sub(now), p.checkInterval(j, now))
		if len(unknowns) > 0 {
			wait = min(wait, max(minCheck, p.cfg.AdoptGrace/8)) // a claim shows in the index, not later upstream
		}
		if now.Add(wait).After(deadline) {
			p.release(ctx, j)
			err := errors.New("an unanswered POST is settling: reading the upstream again later")
			if j.postErr != nil { // what the POST met: the status and code the runbook asks for
				err = fmt.Errorf("an unanswered POST (%v) is settling: reading the upstream again later", j.postErr)
			}
			return Outcome{Kind: Retry, Delay: wait, Record: j.rec, Err: err}, true, nil
		}
		if !p.sleepUnlessStopping(ctx, j, wait) {
			p.release(ctx, j)
			return Outcome{Kind: Interrupted, Err: context.Canceled, Record: j.rec}, true, nil
		}
	}
}

// readToken waits for a token of the upstream budget for a read made
// while reconciling. Nothing is sent yet, so the wait ends as soon as
// shutdown begins (workpool.Stopping): the submission is handed back with
// its attempt kept, and the next delivery reconciles where this one
// stopped.
func (p *Pipeline) readToken(ctx context.Context) error {
	ctx, stop := workpool.Stopping(ctx)
	defer stop()
	return p.d.Limiter.Wait(ctx)
}

// sleepUnlessStopping is sleepInProgress, ended as soon as shutdown
// begins: for the pauses before anything is sent.
func (p *Pipeline) sleepUnlessStopping(ctx context.Context, j *job, d time.Duration) bool {
	ctx, stop := workpool.Stopping(ctx)
	defer stop()
	return p.sleepInProgress(ctx, j, d)
}

// checkInterval is how long to wait before reading the upstream again:
// half the time since the attempt began, within [minCheck, maxCheck], so
// reads are frequent at first, when a lost answer's request shows, and
// sparse later.
func (p *Pipeline) checkInterval(j *job, now time.Time) time.Duration {
	since := now.Sub(j.rec.Created)
	if pa := j.rec.Pending; pa != nil {
		since = now.Sub(pa.Started)
	}
	return min(max(since/2, minCheck), maxCheck)
}

// reconcile looks upstream for requests an earlier, unanswered POST of
// this submission may have created. It returns the one that is provably
// the submission's, or the ids of those that cannot be told apart and
// until when one of them may still be claimed in the index (its creation,
// on the upstream's clock, plus AdoptGrace). An error is transient trouble
// (or errAmbiguous when two are ours).
func (p *Pipeline) reconcile(ctx context.Context, j *job) (*visengine.Richiesta, []string, time.Time, error) {
	if err := p.readToken(ctx); err != nil {
		return nil, nil, time.Time{}, err
	}
	list, err := p.d.Upstream.Richieste(ctx)
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("reconcile: list requests: %w", err)
	}
	since := j.rec.Created
	if j.rec.Pending != nil && j.rec.Pending.Started.Before(since) {
		since = j.rec.Pending.Started
	}
	since = since.Add(-p.cfg.ReconcileSkew)
	// No attempt of this submission can have created a request after its
	// last attempt settled: later ones belong to others.
	until := p.settleAt(j).Add(p.cfg.ReconcileSkew)
	var found []*visengine.Richiesta
	var unknowns []string
	var claimBy time.Time
	seen := make(map[string]bool)
	for _, s := range list {
		created := s.TimestampCreation.Time()
		if s.HashVisura != j.prep.HashVisura || created.Before(since) || created.After(until) {
			continue
		}
		if seen[s.ID] {
			// Listed twice (a list made by a join, or a page repeated):
			// one request, however often it shows.
			continue
		}
		seen[s.ID] = true
		_ = j.msg.InProgress() // each candidate costs a call: keep the message
		r, v, err := p.candidate(ctx, j, s.ID)
		if err != nil {
			return nil, nil, time.Time{}, err
		}
		switch v {
		case ours:
			found = append(found, r)
		case unknown:
			unknowns = append(unknowns, s.ID)
			if by := created.Add(p.cfg.AdoptGrace); by.After(claimBy) {
				claimBy = by
			}
		}
	}
	if len(found) > 1 {
		return nil, nil, time.Time{}, fmt.Errorf("%w: %d upstream requests carry this submission's marker", errAmbiguous, len(found))
	}
	if len(found) == 1 {
		return found[0], nil, time.Time{}, nil
	}
	return nil, unknowns, claimBy, nil
}

// candidate reads one upstream request and says what it is to the job.
func (p *Pipeline) candidate(ctx context.Context, j *job, id string) (*visengine.Richiesta, verdict, error) {
	owner, err := p.requestOwner(ctx, id)
	if err != nil {
		return nil, notOurs, err
	}
	if owner != "" && owner != j.key() {
		return nil, notOurs, nil // another submission's request
	}
	if err := p.readToken(ctx); err != nil {
		return nil, notOurs, err
	}
	r, err := p.d.Upstream.Richiesta(ctx, id)
	if err != nil {
		return nil, notOurs, fmt.Errorf("reconcile: read request: %w", err)
	}
	if owner == j.key() {
		return r, ours, nil
	}
	return r, p.judge(j, r), nil
}

// judge tells whether a request nobody indexed is the job's.
func (p *Pipeline) judge(j *job, r *visengine.Richiesta) verdict {
	switch p.marker(j, r) {
	case ours:
		return ours
	case notOurs:
		return notOurs
	}
	if p.differs(j, r) {
		return notOurs
	}
	if pa := j.rec.Pending; pa != nil && pa.Marked && p.cfg.TrustMarkerEcho {
		return notOurs // every POST carried the marker, and this request has none
	}
	return unknown
}

// marker says what a request's callback_data tells: ours when it is this
// submission's (URL and secret), notOurs when it is another submission's
// (its URL names another tenant/id whole, and the secret is not ours),
// unknown when it tells nothing (no callbacks, none recorded, another URL,
// a URL the upstream changed). A wrong notOurs pays twice, so a URL that
// does not name another submission exactly proves nothing.
func (p *Pipeline) marker(j *job, r *visengine.Richiesta) verdict {
	if p.cfg.Callback == nil || r.CallbackData.CallbackData == nil {
		return unknown
	}
	mine := p.cfg.Callback(j.tenant, j.sub.ID)
	theirs := r.CallbackData.CallbackData
	if mine == nil {
		return unknown
	}
	if sameJSON(theirs.EchoedData(), mine.Data) {
		// The secret is this submission's (an HMAC nobody else can make).
		if strings.TrimSuffix(theirs.URL, "/") == mine.URL {
			return ours
		}
		return unknown
	}
	base, ok := strings.CutSuffix(mine.URL, j.tenant+"/"+j.sub.ID)
	if !ok {
		return unknown
	}
	rest, ok := strings.CutPrefix(theirs.URL, base)
	if !ok {
		return unknown
	}
	tenant, id, ok := strings.Cut(rest, "/")
	if ok && record.ValidToken(tenant) && record.ValidToken(id) && (tenant != j.tenant || id != j.sub.ID) {
		return notOurs // the callback of another submission
	}
	return unknown
}

// differs reports whether a request records something this submission
// cannot have sent. What it does not record says nothing.
//
// Only what an upstream cannot have reformatted counts: an identifier (tax
// code, VAT number) whose letters and digits differ, or an email_target
// that differs beyond case and spacing. Names, dates, phone numbers and
// options may come back normalised in ways nobody has published (a date
// re-ordered, a prefix added, an option renamed); a difference there proves
// nothing, and a wrong "not ours" would pay twice, so it is left unknown.
func (p *Pipeline) differs(j *job, r *visengine.Richiesta) bool {
	if identifierDiffers(r, j.prep.JSONVisura, j.svc) {
		return true
	}
	got, want := strings.Join(strings.Fields(string(r.EmailTarget)), ""), strings.Join(strings.Fields(j.sub.EmailTarget), "")
	return got != "" && !strings.EqualFold(got, want)
}

// identifierDiffers compares the identifiers a request records (json_ricerca
// of its first search), where it records them whole, with ours. True only
// on a difference.
func identifierDiffers(r *visengine.Richiesta, ours map[string]string, svc *schema.Service) bool {
	if len(r.Ricerche) == 0 || r.Ricerche[0].Input == nil {
		return false // nothing recorded: nothing differs
	}
	theirs, cut := r.Ricerche[0].Input, r.Ricerche[0].Cut
	for k, v := range ours {
		if f, ok := svc.Field(k); !ok || !f.Identifies() {
			continue
		}
		if tv, ok := theirs[k]; ok && !cut[k] && identifier(tv) != identifier(v) {
			return true
		}
	}
	return false
}

// identifier is an identifier's letters and digits, upper-cased.
func identifier(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToUpper(r)
		}
		return -1
	}, s)
}

// sameJSON compares two JSON documents by value.
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// requestOwner returns the submission key that owns an upstream request id,
// or "" when no submission recorded it. It asks the index's leader: a
// lagging replica's "no such key" would make a claimed request look
// unclaimed, and keep a reconciliation waiting for a claim that was made.
func (p *Pipeline) requestOwner(ctx context.Context, id string) (string, error) {
	v, ok, err := record.LeaderGet(ctx, p.d.Publisher, p.lay.RequestsBucket(), record.IndexKey(id))
	if err != nil {
		return "", fmt.Errorf("reconcile: request index: %w", err)
	}
	if !ok {
		return "", nil
	}
	return string(v), nil
}
