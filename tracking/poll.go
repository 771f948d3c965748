package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// maxCAS bounds the compare-and-set retries of one poll.
const maxCAS = 5

// trackOutcome is what one poll of a task came to.
type trackOutcome struct {
	Final       bool  // tracking is over: the request ended (and its document is stored), or iseed gave up
	Err         error // the poll failed, or the document could not be stored yet
	Interrupted bool  // shutdown came first
}

// trackAction is the fate of a task.
type trackAction struct {
	Ack   bool
	Delay time.Duration // NakWithDelay when not Ack
}

// decideTrack is the one place that maps a poll's outcome to its task's
// fate. delivered is the task's delivery count (1 the first time): the poll
// schedule is indexed by it, its last step repeating.
func decideTrack(o trackOutcome, delivered uint64, c Config) trackAction {
	next := c.Schedule[min(max(delivered, 1)-1, uint64(len(c.Schedule)-1))]
	switch {
	case o.Final:
		return trackAction{Ack: true}
	case o.Interrupted:
		return trackAction{Delay: c.HandBack}
	case o.Err != nil:
		return trackAction{Delay: min(c.RetryDelay, next)}
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
	case meta.NumDelivered == 1 && t.replayOf(msg) == 0:
		// A new task: the POST's answer has just told the state, so the
		// first poll waits for the schedule's first step (callbacks come sooner).
	default:
		_ = msg.InProgress() // the AckWait starts again: the limiter may have kept it waiting
		o = t.poll(ctx, tk, meta, msg)
		o.Interrupted = errors.Is(o.Err, context.Canceled)
	}
	act := decideTrack(o, meta.NumDelivered, t.cfg)
	t.d.Metrics.poll(o)
	if act.Ack {
		err = msg.Ack()
	} else {
		err = msg.NakWithDelay(act.Delay)
	}
	t.logPoll(tk, meta, o, act, err, time.Since(start))
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
		if t.cfg.Now().Sub(meta.Timestamp) > t.cfg.MaxAge {
			return trackOutcome{Final: true} // nothing to follow
		}
		return trackOutcome{Err: err}
	}
	if err != nil {
		return trackOutcome{Err: err}
	}
	if closed(rec) {
		seq := t.replayOf(msg)
		if !reopenable(rec, seq) {
			if rec.State == record.StateFailed && rec.Reason == dlq.ReasonGaveUp && seq == 0 {
				// This task gave up; its announcement may not have gone out.
				if err := t.announceGiveUp(ctx, rec, meta, msg.Data()); err != nil {
					return trackOutcome{Err: err}
				}
			}
			return trackOutcome{Final: true}
		}
		if rec, rev, err = t.reopen(ctx, rec, rev, seq); err != nil {
			return trackOutcome{Err: err}
		}
	}
	if rec.RequestID == "" {
		return trackOutcome{Err: errors.New("the submission has no upstream request yet")}
	}
	if age := t.cfg.Now().Sub(trackedSince(rec)); age > t.cfg.MaxAge {
		return t.giveUp(ctx, rec, rev, meta, msg.Data())
	}
	final, err := t.refresh(ctx, rec, rev)
	return trackOutcome{Final: final, Err: err}
}

// Refresh re-reads one submission's upstream request now and applies what
// changed; a callback calls it. It is safe beside a concurrent poll.
func (t *Tracker) Refresh(ctx context.Context, tenant, id string) error {
	rec, rev, err := t.store.Get(ctx, tenant, id)
	if err != nil {
		return err
	}
	if closed(rec) || rec.RequestID == "" {
		return nil
	}
	_, err = t.refresh(ctx, rec, rev)
	return err
}

// refresh makes one GET /richiesta/{id} through the shared rate limit and
// applies the answer.
func (t *Tracker) refresh(ctx context.Context, rec *record.Record, rev uint64) (bool, error) {
	if err := t.d.Limiter.Wait(ctx); err != nil {
		return false, err
	}
	r, err := t.d.Upstream.Richiesta(ctx, rec.RequestID)
	if err != nil {
		return false, fmt.Errorf("poll %s: %w", rec.RequestID, err)
	}
	return t.catchUp(ctx, rec, rev, r)
}
