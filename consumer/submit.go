package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/workpool"
)

// leaseMargin is kept between the end of an upstream call and the end of
// the lease it runs under.
const leaseMargin = time.Second

// errAmbiguous means an upstream request may exist for the submission and
// iseed cannot tell which, if any: a person must decide.
var errAmbiguous = errors.New("ambiguous: cannot tell whether the upstream request exists")

// errNotSent wraps what stopped a POST before any of it was sent (the wait
// for an upstream token failed, was cancelled or timed out): no request
// can exist, whatever the cause says.
var errNotSent = errors.New("the POST was not sent")

// proceed sends a claimed submission upstream, at most once.
func (p *Pipeline) proceed(ctx context.Context, j *job) Outcome {
	if len(j.prep.FileRefs) > 0 {
		if o, done := p.resolveFiles(ctx, j); done {
			return p.unsent(ctx, j, p.expireUnsent(ctx, j, o))
		}
	}
	if o, done := p.reserve(ctx, j); done {
		return p.unsent(ctx, j, p.expireUnsent(ctx, j, o))
	}
	return p.submit(ctx, j)
}

// expireUnsent ends, as submit does, a delivery that stopped before its
// POST on transient trouble (its files or its caps could not be read) once
// its message is past the maximum age: expired, or ambiguous when an
// earlier POST of it is in doubt. Handed back instead, it was delivered
// again until ISEED_MAX_DELIVER ran out (days after ISEED_MAX_AGE), then
// failed max_deliveries, which says to look for a crash.
func (p *Pipeline) expireUnsent(ctx context.Context, j *job, o Outcome) Outcome {
	if o.Kind != Retry || !p.expired(j) {
		return o
	}
	if j.unsure {
		return p.fail(ctx, j, dlq.ReasonAmbiguous, fmt.Errorf("past the maximum age of %s, an unanswered POST not reconciled: %w", p.cfg.MaxAge, o.Err))
	}
	p.heldReservation(ctx, j) // an earlier delivery's reservation goes back with it
	return p.fail(ctx, j, dlq.ReasonExpired, fmt.Errorf("past the maximum age of %s; last: %w", p.cfg.MaxAge, o.Err))
}

// unsent ends a delivery that stopped before its POST. On transient
// trouble (Retry, Interrupted) it gives the lease up as a delivery that
// waits does (release): kept, the next delivery would wait for it to end,
// take it for a POST whose answer was lost and reconcile one never sent.
// The other outcomes have written the record already.
func (p *Pipeline) unsent(ctx context.Context, j *job, o Outcome) Outcome {
	if o.Kind == Retry || o.Kind == Interrupted {
		p.release(ctx, j)
	}
	return o
}

func (p *Pipeline) resolveFiles(ctx context.Context, j *job) (Outcome, bool) {
	if p.d.Files == nil {
		return p.fail(ctx, j, dlq.ReasonInvalid, errors.New("file references are not supported: no object store configured")), true
	}
	files := tenantFiles{src: p.d.Files, bucket: p.lay.FilesBucket(j.tenant)}
	err := schema.ResolveFiles(ctx, j.prep, files, p.limits(j))
	var verr *schema.ValidationError
	if errors.As(err, &verr) && j.unsure {
		// An earlier POST may have created the request: a person must decide.
		return p.fail(ctx, j, dlq.ReasonAmbiguous, fmt.Errorf("a referenced file is gone (%s) and an earlier attempt may have created the request", verr.Problems[0].Code)), true
	}
	if errors.As(err, &verr) { // nothing was ever sent: an earlier delivery's reservation goes back with it
		p.heldReservation(ctx, j)
		o, _ := p.reject(ctx, j, verr.Problems, p.cfg.Now())
		return o, true
	}
	if err != nil {
		return p.retry(fmt.Errorf("resolve files: %w", err), 0), true
	}
	return Outcome{}, false
}

// submit posts with in-process backoff, reconciling first whenever an
// earlier attempt may have created the request.
func (p *Pipeline) submit(ctx context.Context, j *job) Outcome {
	b := newBackOff(p.cfg.InProcessBudget)
	deadline := p.cfg.Now().Add(p.cfg.InProcessBudget)
	for {
		if j.unsure {
			o, done, err := p.resolveUnsure(ctx, j, deadline)
			if done {
				return o
			}
			if err != nil && workpool.ShuttingDown(ctx) {
				// A read of the upstream, or its token, ended by the
				// shutdown: handed back, the attempt kept (release).
				p.release(ctx, j)
				return Outcome{Kind: Interrupted, Err: err, Record: j.rec}
			}
			if err != nil && p.expired(j) {
				// Too old to go on, and the upstream cannot be read to
				// say whether the lost POST made a request: a person decides.
				return p.fail(ctx, j, dlq.ReasonAmbiguous, fmt.Errorf("past the maximum age of %s, an unanswered POST not reconciled: %w", p.cfg.MaxAge, err))
			}
			if err != nil {
				if o, stop := p.wait(ctx, j, b, err, deadline); stop {
					return o
				}
				continue
			}
			// Nothing the earlier attempt made exists: the POST about to
			// be sent is a new charge, counted like a first one (a replayed
			// ambiguous dead letter has no reservation left; one made at a
			// lower price than the submission's now is reserved anew).
			if j.res == nil || j.repriced() {
				if o, done := p.reserve(ctx, j); done {
					return p.unsent(ctx, j, o)
				}
			}
		}
		if p.expired(j) {
			return p.fail(ctx, j, dlq.ReasonExpired, fmt.Errorf("the submission is past the maximum age of %s", p.cfg.MaxAge))
		}
		if !p.wallet.admit() { // the wallet is empty and another POST is its trial
			p.release(ctx, j)
			return Outcome{Kind: Retry, Err: errWalletEmpty, Delay: p.cfg.WalletProbe, Record: j.rec}
		}
		// The token first, then the attempt's lease: with many workers and
		// replicas queued for the budget, the wait can outlast a lease
		// taken before it, and the POST would have no time left.
		if err := p.token(ctx, j); err != nil {
			p.wallet.done()
			if errors.Is(err, errLeaseLost) { // the record is another delivery's now: nothing to release
				return Outcome{Kind: Busy, Delay: p.cfg.Retry.MinDelay, Err: err, Record: j.rec}
			}
			if o, stop := p.wait(ctx, j, b, err, deadline); stop {
				return o
			}
			continue
		}
		if err := p.markAttempt(ctx, j); err != nil {
			p.wallet.done()   // no POST went: a trial ends here, or no later one is ever admitted
			p.release(ctx, j) // nor may the lease say one did (a compare-and-set: never another worker's)
			return p.retry(err, 0)
		}
		r, err := p.post(ctx, j)
		if err == nil {
			p.walletOK(ctx)
			return p.adopt(ctx, j, r, "")
		}
		j.postErr = err
		var fe *schema.FileError
		if errors.As(err, &fe) {
			if prob, ok := fe.Problem(); ok { // a file changed since it was checked: nothing was sent whole
				o, _ := p.reject(ctx, j, []schema.Problem{prob}, p.cfg.Now())
				return o
			}
		}
		switch visengine.ClassOf(err) {
		case visengine.ClassPermanent, visengine.ClassNotFound:
			p.invalidate(ctx, j)
			return p.fail(ctx, j, dlq.ReasonUpstreamRejected, err)
		case visengine.ClassInsufficientCredit:
			// Nothing was created or charged: the account must be topped
			// up, and the backlog waits for it (not pulled meanwhile). The
			// reservation stays for the submission's next delivery (Reserve
			// gives it back to it): given back here, after a lease that may
			// have run out, or just before another delivery may take the
			// submission over, it could be the one that delivery spends.
			p.walletEmpty(ctx)
			p.release(ctx, j)
			return Outcome{Kind: Retry, Err: err, Delay: p.cfg.WalletProbe, Record: j.rec}
		case visengine.ClassAmbiguous:
			j.unsure = true
		}
		if unclassifiedCancel(err) {
			j.unsure = true // the request may have been written before the cancel
		}
		if j.unsure {
			j.settle = p.cfg.Now().Add(p.cfg.ReconcileSettle)
		}
		if o, stop := p.wait(ctx, j, b, err, deadline); stop {
			return o
		}
	}
}

// unclassifiedCancel reports whether err is a cancel or a timeout that
// says nothing of how far the POST went, which must then be taken as
// unanswered. The visengine client classifies its own (ambiguous when the
// request may have been written whole, retryable when it cannot have
// been: a dial that timed out); errNotSent went nowhere.
func unclassifiedCancel(err error) bool {
	if visengine.ClassOf(err) != 0 || errors.Is(err, errNotSent) {
		return false
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// invalidator is the optional part of Schemas that drops a cached schema.
type invalidator interface {
	Invalidate(ctx context.Context, hash string) error
}

// invalidate drops the cached schema after the upstream refused input it
// accepted: the service may have changed, and the next submissions must be
// checked against the new schema instead of being sent to fail.
func (p *Pipeline) invalidate(ctx context.Context, j *job) {
	inv, ok := p.d.Schemas.(invalidator)
	if !ok {
		return
	}
	if err := inv.Invalidate(context.WithoutCancel(ctx), j.prep.HashVisura); err != nil {
		p.log.Warn().Err(err).Str("visengine_service", j.svc.Name).Msg("cannot drop the cached schema")
	}
}

// errLeaseLost means another delivery took the submission over while this
// one waited for its token (its lease had ended): this one stops, sending
// nothing.
var errLeaseLost = errors.New("another delivery took the submission over during the wait for an upstream token")

// token waits for a token of the upstream budget, telling the server
// meanwhile that the message is still being worked on: the wait can
// outlast AckWait, and a redelivery would only find this job's lease.
// With a budget that can make it wait, the lease is renewed too
// (holdLease): ended, it would let another delivery of the submission (a
// held one's release, a duplicate) take it over and spend a token of its
// own, this one's then spent for nothing.
func (p *Pipeline) token(ctx context.Context, j *job) error {
	stop := workpool.KeepInProgress(j.msg, p.pace)
	defer stop()
	// Only a wait, before anything is sent: it ends as soon as shutdown
	// begins, and the submission is handed back (wait), not kept until
	// the shutdown timeout.
	ctx, stopping := workpool.Stopping(ctx)
	defer stopping()
	// Counted among its tenant's waits while it waits (turns.go).
	p.turns.enter(j)
	defer p.turns.leave(j)
	if !p.markUnsent { // the limiter never waits
		if err := p.d.Limiter.Wait(ctx); err != nil {
			return fmt.Errorf("%w: upstream budget: %w", errNotSent, err)
		}
		return nil
	}
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	held := make(chan struct{})
	go func() {
		defer close(held)
		p.holdLease(wctx, j, cancel)
	}()
	err := p.d.Limiter.Wait(wctx)
	cancel(nil)
	<-held
	if cause := context.Cause(wctx); errors.Is(cause, errLeaseLost) {
		return fmt.Errorf("%w: %w", errNotSent, cause)
	}
	if err != nil {
		return fmt.Errorf("%w: upstream budget: %w", errNotSent, err)
	}
	return nil
}

// holdLease renews the job's lease while it waits for its token, every
// third of AckWait until ctx ends, by compare-and-set on the record. A
// lost one means another delivery took the submission over: the wait is
// cancelled with errLeaseLost. A write that fails otherwise is tried
// again at the next tick; markAttempt's compare-and-set decides in the
// end. It is the only writer of j.rec while it runs.
func (p *Pipeline) holdLease(ctx context.Context, j *job, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(max(p.lay.AckWait/3, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if j.rec.Pending == nil || j.rec.Pending.Owner != j.owner {
			return
		}
		next := *j.rec
		lease := *next.Pending
		lease.Until = p.cfg.Now().Add(p.lay.AckWait)
		next.Pending = &lease
		rev, err := p.store.Update(context.WithoutCancel(ctx), &next, j.rev)
		if err != nil && !errors.Is(err, record.ErrRevision) {
			rev, err = p.landed(context.WithoutCancel(ctx), &next, err) // stored, its answer lost?
		}
		switch {
		case errors.Is(err, record.ErrRevision):
			cancel(errLeaseLost)
			return
		case err == nil:
			j.rec, j.rev = &next, rev
		}
	}
}

// post makes one POST /richiesta, its token taken, through the breaker.
// It ends the wallet's trial, if this was one, whether the POST went or not.
func (p *Pipeline) post(ctx context.Context, j *job) (*visengine.Richiesta, error) {
	defer p.wallet.done()
	req := visengine.CreateRequest{HashVisura: j.prep.HashVisura, JSONVisura: j.prep.JSONVisura,
		Opzioni: j.prep.Opzioni, EmailTarget: j.sub.EmailTarget}
	if len(j.prep.Files) > 0 {
		req.WriteJSONVisura = j.prep.WriteJSONVisura
		if n, err := j.prep.JSONVisuraLen(); err == nil {
			req.JSONVisuraLen = n
		}
	}
	if p.cfg.Callback != nil {
		req.CallbackData = p.cfg.Callback(j.tenant, j.sub.ID)
	}
	j.called = req.CallbackData != nil
	j.precounted = false // counted by the lease write before it
	// The job never waits past the lease: past it, another worker may take
	// over. The lease is on the pipeline's clock (the server's time, in
	// production): the deadline is relative.
	r, err := p.postWithin(ctx, j, req, j.rec.Pending.Until.Add(-leaseMargin).Sub(p.cfg.Now()))
	p.d.Metrics.post(err)
	return r, err
}

// postWithin makes the POST and waits for its answer at most wait (or
// until ctx ends). A POST not written whole by then is cut short, and the
// client says what it is (not sent). One written whole is not: the job is
// told it is unanswered (ambiguous, as the client says of a POST cut
// after it was written), but its answer is still read, until half of
// AdoptGrace after the POST began (CallTimeout after the wait at most):
// reconciliation waits AdoptGrace from the request's creation for an
// unknown candidate's index entry before it calls the submission
// ambiguous, and the entry needs the time left to be written. A process frozen in the middle of a POST (a
// paused VM, a SIGSTOP, a long stall) finds its answer waiting when it
// wakes, past its lease; dropped, the request could be proven this
// submission's only by a callback's marker, and without one the
// submission would end ambiguous, left to a person. Kept, its id goes into
// the request index (lateIndex), which proves it to the delivery that
// reconciles the submission, which then adopts it.
func (p *Pipeline) postWithin(ctx context.Context, j *job, req visengine.CreateRequest, wait time.Duration) (*visengine.Richiesta, error) {
	var written atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) { written.Store(info.Err == nil) }}
	began := p.cfg.Now()
	wait = max(wait, 0)
	base := p.lateCtx // Run's end stops what is still read
	if base == nil {
		base = context.WithoutCancel(ctx)
	}
	// Measured in running time (visengine.WithRunningTimeout): a process
	// stopped during the POST reads the answer that came meanwhile.
	callCtx, cancel := visengine.WithRunningTimeout(httptrace.WithClientTrace(base, trace),
		max(wait, min(wait+p.cfg.CallTimeout, p.cfg.AdoptGrace/2)))
	type answer struct {
		r   *visengine.Richiesta
		err error
	}
	answered := make(chan answer, 1)
	p.late.Go(func() {
		defer cancel()
		r, err := p.breaker.Execute(func() (*visengine.Richiesta, error) {
			return p.d.Upstream.CreateRichiesta(callCtx, req)
		})
		answered <- answer{r, err}
	})
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case a := <-answered:
		return a.r, a.err
	case <-timer.C:
	case <-ctx.Done():
	}
	if !written.Load() {
		cancel()
		a := <-answered
		return a.r, a.err
	}
	tenant, id, key := j.tenant, j.sub.ID, j.key()
	p.late.Go(func() {
		if a := <-answered; a.err == nil && a.r != nil && a.r.ID != "" {
			p.lateIndex(base, tenant, id, key, a.r.ID, began.Add(p.cfg.AdoptGrace))
		}
	})
	cause := context.DeadlineExceeded
	if ctx.Err() != nil {
		cause = ctx.Err()
	}
	return nil, &visengine.Error{Op: "POST /richiesta", Class: visengine.ClassAmbiguous,
		Message: "request sent, no answer within the lease (its answer is still read: a request it names is indexed)", Err: cause}
}

// lateIndex writes the request index entry of a request whose POST was
// answered after its job stopped waiting: key (tenant/id) owns requestID.
// A delivery reconciling the submission finds it there (requestOwner) and
// adopts the request. It tries until end, when reconciliation stops
// waiting for an unknown candidate's index entry, or ctx ends.
func (p *Pipeline) lateIndex(ctx context.Context, tenant, id, key, requestID string, end time.Time) {
	log := p.log.With().Str("tenant", tenant).Str("submission", id).Str("request_id", requestID).Logger()
	b := newBackOff(0)
	for {
		callCtx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
		owner, err := p.indexFor(callCtx, key, requestID)
		cancel()
		switch {
		case err == nil && owner == key:
			log.Info().Msg("a POST's answer came after its job stopped waiting: its request is indexed for the submission, which adopts it when reconciled")
			return
		case err == nil:
			log.Error().Str("owner", owner).Msg("a POST's late answer names a request indexed for another submission: left to reconciliation")
			return
		}
		d := b.NextBackOff()
		if p.cfg.Now().Add(d).After(end) || !workpool.Sleep(ctx, d) {
			log.Warn().Err(err).Msg("a POST's late answer could not be indexed: reconciliation decides without it")
			return
		}
	}
}

// markAttempt records, before a POST, that a request may come to exist,
// counts the POST, and makes sure this job's lease outlasts the call. The
// claim or a take-over may have done it already.
func (p *Pipeline) markAttempt(ctx context.Context, j *job) error {
	if id := j.rec.Answered(); id != "" { // never: resume adopts it first; but a second request would be paid
		j.unsure = true // so that release keeps the pending attempt, and the id with it
		return fmt.Errorf("record attempt: an earlier POST got request %s back: it is adopted, never sent again", id)
	}
	now := p.cfg.Now()
	// Reuse the lease only when it counts this POST already, is this job's,
	// outlasts the call, carries no settle time of an earlier attempt (a
	// crash during this POST must settle from this lease's end), and does
	// not say Unsent (this write, compare-and-set, is what stops another
	// delivery from taking the record over as never sent).
	if pa := j.rec.Pending; j.precounted && pa != nil && !pa.Unsent && pa.Owner == j.owner && pa.Settle.IsZero() && pa.Until.Sub(now) > p.cfg.CallTimeout+leaseMargin {
		return nil
	}
	next := *j.rec
	if !j.precounted { // a POST after another, or after a take-over that counted none
		next.Attempts++
	}
	next.Pending = p.lease(j, now)
	if old := j.rec.Pending; old != nil && !old.Unsent {
		next.Pending.Marked = next.Pending.Marked && old.Marked // every POST it covers
		if old.Started.Before(now) {
			next.Pending.Started = old.Started // the oldest moment a request may have been created
		}
	}
	rev, err := p.store.Update(ctx, &next, j.rev)
	if err != nil && !errors.Is(err, record.ErrRevision) {
		// Stored unanswered, it marks a POST not sent yet: carry on.
		rev, err = p.landed(ctx, &next, err)
	}
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	j.rec, j.rev = &next, rev
	j.precounted = true
	return nil
}

// wait sleeps before the next in-process attempt, or ends the delivery with
// a Retry when the budget is spent. A known-unsent attempt clears Pending so
// that the redelivery does not reconcile for nothing.
//
// The upstream's Retry-After is honoured up to the retry policy's
// MaxDelay: one of years (a gateway's silly value, a date misread) would
// hand the message back for that long, with no outcome and holding one of
// the consumer's MaxAckPending slots, and past the stream's retention the
// submission would be gone. After MaxDelay the call is simply made again
// (a POST that was throttled created nothing), and a new 429 says so.
func (p *Pipeline) wait(ctx context.Context, j *job, b backoff.BackOff, cause error, deadline time.Time) (Outcome, bool) {
	d := b.NextBackOff()
	var ve *visengine.Error
	retryAfter := time.Duration(0)
	if errors.As(cause, &ve) {
		retryAfter = min(ve.RetryAfter, p.cfg.Retry.MaxDelay)
	}
	d = max(d, retryAfter)
	if breakerOpen(cause) || d == backoff.Stop || p.cfg.Now().Add(d).After(deadline) || workpool.ShuttingDown(ctx) {
		p.release(ctx, j)
		if workpool.ShuttingDown(ctx) {
			return Outcome{Kind: Interrupted, Err: cause, Record: j.rec}, true
		}
		return Outcome{Kind: Retry, Err: cause, Delay: retryAfter, Record: j.rec}, true
	}
	// The pause ends as soon as shutdown begins: nothing is being sent,
	// and the next delivery takes up where this one stopped (release
	// keeps an unanswered POST's attempt for it to reconcile).
	if !p.sleepUnlessStopping(ctx, j, d) {
		p.release(ctx, j)
		return Outcome{Kind: Interrupted, Err: cause, Record: j.rec}, true
	}
	return Outcome{}, false
}

// release gives up the lease at the end of a delivery, clearing Pending
// when no request can have been created, and keeping when reconciling can
// be trusted when one may have been.
func (p *Pipeline) release(ctx context.Context, j *job) {
	next := *j.rec
	next.FailedAt(p.cfg.Now())
	j.uncount(&next)
	if !j.unsure {
		next.Pending = nil
	} else if next.Pending != nil {
		pending := *next.Pending
		pending.Settle = p.settleAt(j)
		pending.Until = p.cfg.Now() // the lease ends with this delivery
		next.Pending = &pending
	}
	if rev, err := p.store.Update(context.WithoutCancel(ctx), &next, j.rev); err == nil {
		j.rec, j.rev = &next, rev
	}
}

// sleepInProgress waits d, telling the server the message is still being
// worked on so that AckWait does not run out: the AckWait of the job's
// message's consumer, the submissions' (as the server has it, which may
// be another replica's: p.pace) or the advisories'.
func (p *Pipeline) sleepInProgress(ctx context.Context, j *job, d time.Duration) bool {
	tick := func() time.Duration { return p.pace.Refresh(ctx) }
	if j.aliveWait > 0 {
		every := workpool.InProgressEvery(j.aliveWait)
		tick = func() time.Duration { return every }
	}
	end := p.cfg.Now().Add(d)
	for {
		left := end.Sub(p.cfg.Now())
		if left <= 0 {
			return true
		}
		if !workpool.Sleep(ctx, min(left, tick())) {
			return false
		}
		_ = j.alive.InProgress()
	}
}

// newBackOff returns the in-process retry intervals, stopping after
// maxElapsed (0: never; the caller bounds the retries).
func newBackOff(maxElapsed time.Duration) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = maxElapsed
	b.Reset()
	return b
}
