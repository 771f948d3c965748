package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go/jetstream"
)

// maxCAS bounds the compare-and-set retries of one poll.
const maxCAS = 5

// trackOutcome is what one poll of a task came to.
type trackOutcome struct {
	Final       bool           // tracking is over: the request ended (and its document is stored), or iseed gave up
	Err         error          // the poll failed, or the document could not be stored yet
	Interrupted bool           // shutdown came first
	Rec         *record.Record // the record the poll read, nil when it read none
	State       string         // the record state the request reached, "" when unknown
	// Awaited is how long (real time) the upstream has served the state
	// whose document is not stored: Visura evasa while the final document
	// is not, or Dati disponibili while the DSU receipt is not; from the
	// upstream's timestamp_stati, read by the poll; 0 when unknown or not
	// awaiting.
	Awaited time.Duration
	// Failing is how long (real time) the reads of the upstream request
	// have failed, none succeeding since (record.Record.PollsFailing): 0
	// when the read succeeded, or failed for the first time.
	Failing time.Duration
}

// maxFinalDocumentRetry bounds the retries of a final document the
// upstream does not serve yet (decideTrack): a document served late is
// still fetched within the hour, and one never served costs two calls an
// hour, not two a minute.
const maxFinalDocumentRetry = time.Hour

// trackAction is the fate of a task.
type trackAction struct {
	Ack   bool
	Delay time.Duration // NakWithDelay when not Ack
}

// decideTrack is the one place that maps a poll's outcome to its task's
// fate. next is the real delay until the task's next scheduled poll
// (nextPoll); a failed poll is retried sooner, after the retry delay
// (real: retry is RetryDelay on the schedule's clock, converted), or
// after the upstream's Retry-After when that is later (a 429 or 503 that
// names one; at most MaxRetryAfter): polling sooner than asked would only
// be refused again, and spend the budget submissions share.
func decideTrack(o trackOutcome, next, retry time.Duration, c Config) trackAction {
	switch {
	case o.Final:
		return trackAction{Ack: true}
	case o.Interrupted:
		return trackAction{Delay: c.HandBack}
	case visengine.ClassOf(o.Err) == visengine.ClassNotFound:
		// The upstream does not know the request (lost, or another
		// account's): asking again in a minute will not change that, so
		// it is asked as the schedule says, until the request turns up
		// or tracking gives up at its maximum age.
		return trackAction{Delay: next}
	case visengine.ClassOf(o.Err) == visengine.ClassNotReady && o.State != record.StateCompleted:
		// The upstream serves no document yet (422) in Dati disponibili,
		// where a request stays for days: retried every retry delay, each
		// request would cost two calls a minute all that time. The next
		// scheduled poll (or a callback) fetches it; in Visura evasa the
		// final document is all tracking waits for, and is retried sooner
		// (below).
		return trackAction{Delay: next}
	case errors.Is(o.Err, visengine.ErrResponseTooLarge):
		// The document is over MaxDocumentBytes, and will be as large at
		// the next try, which reads the whole limit again (256 MiB by
		// default): tried again as the schedule says, not every retry
		// delay until the maximum age.
		return trackAction{Delay: next}
	case o.Err != nil:
		d := min(retry, next)
		ve, upstream := errors.AsType[*visengine.Error](o.Err)
		if upstream && o.Awaited > 0 {
			// A document the upstream does not serve: the final one, in
			// Visura evasa, not yet (422) or because the upstream fails on
			// it (a 5xx, a 4xx, a cut answer); or the DSU receipt, in Dati
			// disponibili, because the upstream fails on it (a 422 waits
			// for the next poll, above). One just served is usually
			// fetched within minutes: retried at the retry delay at first.
			// One the upstream never serves would cost two calls a minute
			// for as long as the request stays in its state (days in Dati
			// disponibili, until the maximum age in Visura evasa), from
			// the budget every poll shares: each retry waits as long as
			// the request has been in that state (memoryless doubling),
			// up to an hour, and never past the next scheduled poll.
			// iseed's own failures (storing the document) are retried at
			// the retry delay: the document is stored as soon as NATS
			// takes it.
			d = min(max(retry, min(o.Awaited, maxFinalDocumentRetry)), next)
		}
		if upstream && o.Failing > 0 {
			// A read of the request that keeps failing (an upstream down
			// for hours, or failing on this one request): retried every
			// retry delay, it would cost a call a minute until the
			// maximum age. Each retry waits as long as the reads have
			// failed (memoryless doubling, from the retry delay), never
			// past the next scheduled poll.
			d = min(max(retry, o.Failing), next)
		}
		if upstream && ve.RetryAfter > d {
			d = min(ve.RetryAfter, c.MaxRetryAfter)
		}
		return trackAction{Delay: max(d, min(retry, next))}
	default:
		return trackAction{Delay: next}
	}
}

// handle polls one task and settles it as decideTrack says.
func (t *Tracker) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	meta, err := msg.Metadata()
	var tk task
	if err == nil {
		err = json.Unmarshal(msg.Data(), &tk)
	}
	if err != nil || !record.ValidToken(tk.Tenant) || !record.ValidToken(tk.ID) {
		t.log.Error().Str("subject", msg.Subject()).Msg("malformed tracking task: terminated")
		_ = msg.Term()
		return
	}
	var o trackOutcome
	switch {
	case ctx.Err() != nil:
		o.Interrupted = true
	case meta.NumDelivered == 1 && t.replayOf(msg) == 0 && !tk.Adopted:
		// A new task: the POST's answer has just told the state, so the
		// first poll waits for the schedule (callbacks come sooner). An
		// adopted one may be further on, and the callbacks before its
		// adoption found nothing to re-read: it is polled at once.
	default:
		_ = msg.InProgress() // the AckWait starts again: the limiter may have kept it waiting
		// A poll may wait long for the upstream budget (submissions come
		// first) or for a large document: a task whose AckWait ran out
		// meanwhile would go to another worker, here or on another replica,
		// and the request be polled by two at once.
		stop := workpool.KeepInProgress(msg, t.pace)
		defer stop() // a poll that panics must not keep its task in progress for ever
		o = t.poll(ctx, tk, meta, msg)
		stop()
		o.Interrupted = errors.Is(o.Err, context.Canceled)
	}
	var next, retry time.Duration
	if !o.Final && !o.Interrupted {
		next, retry = t.nextPoll(tk, meta, o), t.cfg.Timebase.Delay(t.cfg.Now(), t.cfg.RetryDelay)
	}
	act := decideTrack(o, next, retry, t.cfg)
	t.d.Metrics.poll(o)
	if act.Ack {
		err = msg.Ack()
	} else {
		err = msg.NakWithDelay(act.Delay)
	}
	t.logPoll(tk, meta, o, act, err, time.Since(start))
}

// nextPoll returns the real delay until a task's next scheduled poll: by
// delivery count on a fixed Schedule, else by its service's expectation
// (schedule.go), from what the poll read or, without a record, from the
// task. Stretched for callbacks only while they are trusted, and only for
// a request that may get one. Never past the moment its overdue event is
// due, while that event is not out, nor past its give-up (Config.NextPoll;
// a fixed Schedule keeps its steps).
func (t *Tracker) nextPoll(tk task, meta *jetstream.MsgMetadata, o trackOutcome) time.Duration {
	tb := t.cfg.Timebase
	if s := t.cfg.Schedule; len(s) > 0 {
		return tb.Delay(t.cfg.Now(), s[min(max(meta.NumDelivered, 1)-1, uint64(len(s)-1))])
	}
	unpromised := tk.Callback != nil && !*tk.Callback
	if o.Rec != nil {
		unpromised = o.Rec.Unpromised()
	}
	c := t.cfg
	// Callbacks that do not arrive are no reason to poll less, nor is one
	// never asked for (a request posted without callback_data). A record
	// written before it said which is taken as promised, as every request
	// was before: its polls stay as they were.
	c.Polling.Callbacks = c.Polling.Callbacks && t.trust.trusted() && !unpromised
	realNow := t.cfg.Now()
	now := tb.At(realNow)
	at := c.NextPoll(t.asTracked(tk, meta.Timestamp, o.Rec, o.State), now)
	return tb.Delay(realNow, at.Sub(now))
}

func (t *Tracker) logPoll(tk task, meta *jetstream.MsgMetadata, o trackOutcome, act trackAction, settleErr error, took time.Duration) {
	ev := t.log.Debug()
	if o.Final {
		ev = t.log.Info()
	}
	if o.Err != nil && !o.Interrupted {
		ev = t.log.Warn().Str("error", o.Err.Error())
	}
	if settleErr != nil {
		ev = t.log.Warn().AnErr("settle_error", settleErr)
	}
	ev.Str("tenant", tk.Tenant).Str("submission", tk.ID).Str("request_id", tk.RequestID).
		Uint64("delivered", meta.NumDelivered).Bool("final", o.Final).Dur("next_poll_ms", act.Delay).
		Dur("took_ms", took).Msg("request polled")
}

// absentGrace is how long after its submission a task whose record the
// records bucket's leader does not hold is still polled.
const absentGrace = time.Hour

// poll brings one submission's record up to date with its upstream request.
func (t *Tracker) poll(ctx context.Context, tk task, meta *jetstream.MsgMetadata, msg jetstream.Msg) trackOutcome {
	rec, rev, err := t.store.Get(ctx, tk.Tenant, tk.ID)
	if errors.Is(err, record.ErrNotFound) {
		// A task is published after its record is stored, so the record
		// exists unless an operator removed it. A KV get is a direct get,
		// answered by any replica, and one that is cut off from the others
		// or still catching up answers "no such key" for a record the
		// majority holds: absence is trusted only once the task is older
		// than the maximum age, never right away.
		if t.schedNow().Sub(t.cfg.Timebase.At(meta.Timestamp)) > t.cfg.MaxAge {
			return trackOutcome{Final: true} // nothing to follow
		}
		// The leader's answer is the truth: a task whose record it does
		// not hold, an hour after the submission it names, was never this
		// submission's (anyone who may publish in the account can put one
		// on a subject nobody tracks) or outlived an operator's removal,
		// and polling it for the maximum age would only log a warning a
		// minute. The hour leaves room for a record put back (a bucket
		// restored) soon after.
		submitted := tk.Submitted
		if submitted.IsZero() {
			submitted = meta.Timestamp
		}
		if t.schedNow().Sub(t.cfg.Timebase.At(submitted)) < absentGrace {
			return trackOutcome{Err: err}
		}
		if _, ok, lerr := record.LeaderGet(ctx, t.d.Publisher, t.lay.RecordsBucket(), record.Key(tk.Tenant, tk.ID)); lerr == nil && !ok {
			t.rare.Warn().Str("tenant", tk.Tenant).Str("submission", tk.ID).
				Msg("a tracking task for a submission that has no record: ended")
			return trackOutcome{Final: true}
		}
		return trackOutcome{Err: err}
	}
	if err != nil {
		return trackOutcome{Err: err}
	}
	o := t.pollRecord(ctx, rec, rev, meta, msg)
	if o.Rec == nil {
		o.Rec = rec
	}
	return o
}

// pollRecord is poll once the record is read.
func (t *Tracker) pollRecord(ctx context.Context, rec *record.Record, rev uint64, meta *jetstream.MsgMetadata, msg jetstream.Msg) trackOutcome {
	var err error
	seq := t.replayOf(msg)
	if rec.Closed() {
		if !reopenable(rec, seq) {
			// A record this task gave up on (an ordinary task, or the
			// replay that reopened the record last and tracks it since):
			// its announcement may not have gone out.
			own := seq == 0 || seq == lastReplay(rec)
			if seq != 0 && !own {
				t.logNotReopened(rec, seq)
			}
			if gaveUp(rec) && own {
				if err := t.announceGiveUp(ctx, rec, meta, msg.Data(), t.unverifiedReplay(msg)); err != nil {
					return trackOutcome{Err: err}
				}
				if err := t.rewriteAfterLetter(ctx, rec, rev); err != nil {
					return trackOutcome{Err: err}
				}
			}
			// A give-up that stored its letter and stopped before it saw
			// the override (announceGiveUp) comes back here.
			if err := t.withdrawOverridden(ctx, rec); err != nil {
				return trackOutcome{Err: err}
			}
			return trackOutcome{Final: true}
		}
		if rec, rev, err = t.reopen(ctx, rec, rev, seq); err != nil {
			return trackOutcome{Err: err}
		}
	} else if seq != 0 && seq == lastReplay(rec) && t.cfg.Now().Sub(rec.LastReplay()) < t.lay.Duplicates/2 {
		// The reopen's event may not have gone out (its publish failed,
		// or the process stopped after the record write): announced
		// again while the stream drops a repeat (half the window: the
		// clocks of the replicas and of the server may differ).
		if err := t.announceReopen(ctx, rec); err != nil {
			return trackOutcome{Err: err}
		}
	}
	if rec.RequestID == "" {
		return trackOutcome{Err: errors.New("the submission has no upstream request yet")}
	}
	since, now := t.cfg.Timebase.At(trackedSince(rec)), t.schedNow()
	age, pastMax := now.Sub(since), t.cfg.Expired(since, now)
	if pastMax && t.cfg.LastLookGrace < 0 {
		return t.giveUp(ctx, rec, rev, meta, msg.Data(), t.unverifiedReplay(msg))
	}
	final, r, err := t.refresh(ctx, rec, rev)
	o := trackOutcome{Final: final, Err: err, Rec: rec}
	if r == nil && err != nil {
		o.Failing = t.readsFailing(ctx, rec, rev, err)
	}
	if r != nil {
		o.State = stateOf(r.StatoRichiesta)
	}
	if err == nil {
		t.pollFoundNews(rec, o.State)
	}
	if at := awaitedSince(rec, r, t.schedNow()); !final && !at.IsZero() {
		now := t.cfg.Now()
		o.Awaited = t.cfg.Timebase.Delay(now, t.cfg.Timebase.At(now).Sub(at))
	}
	if pastMax {
		return t.pastMaxAge(ctx, o, meta, msg, age)
	}
	return o
}

// readsFailing is how long (real time) the reads of rec's upstream request
// have failed, err being the one that just did: since the record's
// PollsFailing. A first failure sets it, by compare-and-set, best effort: a
// write lost to another writer, or failing, only makes the next failure a
// first one again. Errors that are not the upstream's (the budget's wait,
// a shutdown) do not count.
func (t *Tracker) readsFailing(ctx context.Context, rec *record.Record, rev uint64, err error) time.Duration {
	if _, upstream := errors.AsType[*visengine.Error](err); !upstream || ctx.Err() != nil {
		return 0
	}
	now := t.cfg.Now()
	if !rec.PollsFailing.IsZero() && !rec.PollsFailing.After(now) {
		return now.Sub(rec.PollsFailing)
	}
	next := rec.Clone()
	next.PollsFailing = now
	_, _ = t.store.Update(ctx, next, rev)
	return 0
}

// pastMaxAge ends the poll of a request tracked longer than MaxAge, once
// its last look (the poll o, which read it once more) is done. The last
// poll may be a working day old, or four with callbacks on: with a
// callback lost, or callbacks off, a request the upstream fulfilled since
// was given up unread, failed, and its tenant, told so, might send it
// again and pay twice. A request the look found finished ends as any poll
// ends it; a look the upstream does not answer, or a document that cannot
// be stored, is tried again as any poll is, for up to LastLookGrace past
// the maximum age; then, or when the request is still open, tracking gives
// up, on the record as the look left it.
func (t *Tracker) pastMaxAge(ctx context.Context, o trackOutcome, meta *jetstream.MsgMetadata, msg jetstream.Msg, age time.Duration) trackOutcome {
	switch {
	case o.Final:
		return o
	case o.Err != nil && (ctx.Err() != nil || errors.Is(o.Err, context.Canceled)): // shut down, or its shutdown began (waitToken)
		o.Interrupted = true
		return o
	case o.Err != nil && age <= t.cfg.MaxAge+t.cfg.LastLookGrace:
		o.Err = fmt.Errorf("last look before giving up: %w", o.Err)
		o.Failing = 0 // the look is tried again at the retry delay, not backing off past its grace
		return o
	}
	rec, rev, err := t.store.Get(ctx, o.Rec.Tenant, o.Rec.ID)
	switch {
	case err != nil:
		return trackOutcome{Err: err}
	case rec.Closed():
		return trackOutcome{Final: true, Rec: rec} // a callback ended it meanwhile
	}
	return t.giveUp(ctx, rec, rev, meta, msg.Data(), t.unverifiedReplay(msg))
}

// awaitedSince is since when the upstream has served, in its answer r, a
// state whose document the record rec (read before the poll) lacks:
// fulfilledAt in Visura evasa; in Dati disponibili without a stored
// document, when the request got there (timestamp_stati, else when the
// record entered data_ready). Zero otherwise, or when nothing says. A time
// after now (the schedule's clock) says nothing: the upstream's clock
// ahead, or a timestamp in another unit (microseconds, read as
// milliseconds, are millennia ahead), would keep the retries of its
// document at the retry delay until the maximum age.
func awaitedSince(rec *record.Record, r *visengine.Richiesta, now time.Time) time.Time {
	if r == nil {
		return time.Time{}
	}
	switch {
	case r.StatoRichiesta == visengine.StateFulfilled:
		return fulfilledAt(rec, r, now)
	case r.StatoRichiesta == visengine.StateDataReady && rec.Document == nil:
		return firstPast(now, r.TimestampStati.DatiDisponibili.Time(), rec.EnteredAt(record.StateDataReady))
	}
	return time.Time{}
}

// fulfilledAt is when the upstream fulfilled the request (Visura evasa),
// as its answer r says (timestamp_stati); for an answer without that
// timestamp, or with one after now, when the record entered completed (an
// earlier iseed's, before its final document), else data_ready, else
// in_progress, else when it was submitted, each of which can only be
// earlier: a request fulfilled straight from an earlier state, without
// timestamps, has no data_ready entry, and its final document would be
// retried at the retry delay until the maximum age. Zero when r is not
// Visura evasa.
func fulfilledAt(rec *record.Record, r *visengine.Richiesta, now time.Time) time.Time {
	if r == nil || r.StatoRichiesta != visengine.StateFulfilled {
		return time.Time{}
	}
	return firstPast(now, r.TimestampStati.VisuraEvasa.Time(), rec.EnteredAt(record.StateCompleted),
		rec.EnteredAt(record.StateDataReady), rec.EnteredAt(record.StateInProgress), rec.SubmittedAt())
}

// firstPast returns the first of times that is set and not after now; zero
// when none is.
func firstPast(now time.Time, times ...time.Time) time.Time {
	for _, at := range times {
		if !at.IsZero() && !at.After(now) {
			return at
		}
	}
	return time.Time{}
}

// logNotReopened says why the replay of dead letter seq reopens nothing:
// the submission is closed otherwise than by a give-up (completed, also
// when the upstream's completion overrode the give-up the letter is of),
// or that letter reopened it once already.
func (t *Tracker) logNotReopened(rec *record.Record, seq uint64) {
	why := "the submission is " + rec.State + ", not failed with " + dlq.ReasonGaveUp + ": there is nothing to reopen"
	if rec.Replayed(seq) {
		why = "this dead letter reopened the submission once already"
	}
	t.log.Warn().Str("tenant", rec.Tenant).Str("submission", rec.ID).Uint64("dead_letter", seq).Str("state", rec.State).
		Msg("replayed tracking task reopens nothing: " + why)
}

// waitToken waits for a token of the upstream budget (the polls' share,
// which submissions come before) until the tracker's shutdown begins, not
// until its timeout (workpool.Stopping): a poll that has not made its
// call is only waiting, and is handed back at once (context.Canceled:
// interrupted), for another replica.
func (t *Tracker) waitToken(ctx context.Context) error {
	ctx, stop := workpool.Stopping(ctx)
	defer stop()
	return t.d.Limiter.Wait(ctx)
}

// schedNow is the time on the schedule's clock.
func (t *Tracker) schedNow() time.Time { return t.cfg.Timebase.At(t.cfg.Now()) }

// Refresh re-reads one submission's upstream request now and applies what
// changed; a genuine callback calls it (as Reread), once its secret is
// verified, so it is also the proof that callbacks arrive
// (callbacktrust.go). It is safe beside a concurrent poll.
func (t *Tracker) Refresh(ctx context.Context, tenant, id string) error {
	if _, err := t.Reread(ctx, tenant, id); err != nil && !errors.Is(err, ErrNotYetTracked) {
		return err
	}
	return nil
}

// ErrNotYetTracked is Reread's answer for a request whose tracking has not
// started yet: its POST went out (or may have) and its answer, or the
// adoption of its request, is not recorded yet; or it is recorded and its
// tracking task not stored yet. The request may be read a moment later; a
// callback announcing its news must not be taken for delivered
// (Callbacks waits for it, then asks the upstream to retry).
var ErrNotYetTracked = errors.New("the request is not tracked yet")

// Reread is Refresh, and reports whether the request was read upstream:
// one no longer tracked (tracking over but for a give-up), or never to be
// (no POST sent), is not, and that is no error; one not tracked yet is
// not, with ErrNotYetTracked. The callback endpoint counts them apart.
func (t *Tracker) Reread(ctx context.Context, tenant, id string) (read bool, err error) {
	t.callbackArrived()
	rec, rev, err := t.store.Get(ctx, tenant, id)
	if err != nil {
		return false, err
	}
	if rec.RequestID == "" && rec.State == record.StateClaimed && rec.PostInDoubt() {
		// Its POST is out: the request, if made, is recorded when the
		// POST's answer comes back or reconciliation adopts it.
		return false, ErrNotYetTracked
	}
	// A request tracking gave up on is read all the same: the upstream's
	// completion overrides the give-up (catchUp), and an override that
	// announced completed and then failed before its record write is
	// repaired only here, the give-up's task being acked; so is one that
	// stopped between its record write and the withdrawal of the
	// give-up's dead letter (catchUp). A scrubbed one is not read: its
	// give-up stands (overridesGiveUp).
	if rec.RequestID == "" || (rec.Closed() && (!gaveUp(rec) || !rec.Scrubbed.IsZero())) {
		return false, t.withdrawOverridden(ctx, rec)
	}
	if rec.State == record.StateSubmitted {
		// The pipeline publishes "submitted" before it starts tracking: a
		// request not tracked yet may not be announced yet, and its later
		// states must not go out first. Polling starts with the task.
		switch ok, err := t.tracked(ctx, rec); {
		case err != nil:
			return false, err
		case !ok:
			return false, ErrNotYetTracked
		}
	}
	_, r, err := t.refresh(ctx, rec, rev)
	return r != nil, err
}

// tracked reports whether the tracking task of the record's generation is
// in the stream.
func (t *Tracker) tracked(ctx context.Context, rec *record.Record) (bool, error) {
	_, held, err := t.heldTask(ctx, rec.Tenant, rec.ID)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return held != nil && held.Generation == rec.Generation, nil
}

// refresh makes one GET /richiesta/{id} through the shared rate limit and
// applies the answer. It reports whether tracking is over and the
// upstream's answer (nil when none).
func (t *Tracker) refresh(ctx context.Context, rec *record.Record, rev uint64) (bool, *visengine.Richiesta, error) {
	if err := t.waitToken(ctx); err != nil {
		return false, nil, err
	}
	r, err := t.d.Upstream.Richiesta(ctx, rec.RequestID)
	if err != nil {
		return false, nil, fmt.Errorf("poll %s: %w", rec.RequestID, err)
	}
	if s := r.StatoRichiesta; s != "" && s != visengine.StateSearching && stateOf(s) == "" {
		// A state the API does not publish (VISENGINE.md lists five): a
		// final one would never be seen as final, its document never
		// fetched, and tracking would give up at its maximum age. Said,
		// so that a person looks (and a newer iseed may know it). Not the
		// state itself: it is the upstream's free text, which may name
		// what the request is about (a tax code, a person); the record
		// keeps it, and iseed status shows it.
		t.d.Metrics.unknownState()
		t.rare.Warn().Str("tenant", rec.Tenant).Str("submission", rec.ID).Str("request_id", rec.RequestID).
			Int("stato_richiesta_bytes", len(s)).
			Msg("the upstream answered a request state iseed does not know (iseed status shows it): the record does not move and no document is fetched; polls go on until tracking gives up")
	}
	final, err := t.catchUp(ctx, rec, rev, r)
	return final, r, err
}
