package tracking

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
)

// A give-up that the upstream's completion overrides (catchUp) leaves a
// gave_up dead letter that is not true any more: the submission is
// completed. It is withdrawn, only once the record says completed, by
// whichever comes last: the override after its record write, the give-up
// after storing its letter (it reads the record again), the give-up's
// task coming back after a give-up that stopped in between (pollRecord),
// or the upstream's retry of a callback whose override could not withdraw
// it (Refresh).

// withdrawIfOverridden reads a submission's record from the records
// bucket's leader (a replica's direct get may not have the override yet)
// and, when the upstream's completion overrode a give-up, withdraws the
// give-up's dead letters.
func (t *Tracker) withdrawIfOverridden(ctx context.Context, tenant, id string) error {
	cur, _, err := t.store.GetFromLeader(ctx, t.d.Publisher, tenant, id)
	if errors.Is(err, record.ErrNotFound) {
		return nil // none: nothing says the letter is not true
	}
	if err != nil {
		return err
	}
	return t.withdrawOverridden(ctx, cur)
}

// withdrawOverridden removes the gave_up dead letters of rec's generation
// when rec is completed after tracking gave up on it (overridden): a
// completed submission has nothing to reopen, and a letter left would
// raise the dead-letter alert for nothing and be refused on replay
// (dlq.CheckReopen). While the record still failed with gave_up its
// letter is true, and nothing is removed; letters of other generations,
// submissions or reasons have other ids (dlq.Withdraw).
func (t *Tracker) withdrawOverridden(ctx context.Context, rec *record.Record) error {
	if !overridden(rec) {
		return nil
	}
	id := dlq.MsgID(rec.Tenant, rec.ID, max(rec.Generation, 1), dlq.ReasonGaveUp)
	n, err := dlq.Withdraw(ctx, t.d.Resources.DLQ, t.lay.DLQSubject(rec.Tenant, rec.ID), id)
	if n > 0 {
		t.log.Info().Str("tenant", rec.Tenant).Str("submission", rec.ID).Int("dead_letters", n).
			Msg("gave_up dead letter withdrawn: the upstream's completion overrode the give-up")
	}
	if err != nil {
		return fmt.Errorf("withdraw the gave_up dead letter of %s: %w", record.Key(rec.Tenant, rec.ID), err)
	}
	return nil
}

// overridden reports whether rec is completed after tracking gave up on
// it: the upstream's completion overrode the give-up (catchUp).
func overridden(rec *record.Record) bool {
	return rec.State == record.StateCompleted && slices.ContainsFunc(rec.Timeline, func(tr record.Transition) bool {
		return tr.State == record.StateFailed && tr.Note == dlq.ReasonGaveUp
	})
}
