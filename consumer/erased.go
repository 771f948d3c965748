package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
)

// A closed record's dead letter and final event are stored after the
// record is written: the pipeline writes a record rejected or failed, then
// stores its dead letter (the message's payload: personal data), then
// publishes its event, then settles the message. iseed erase refuses open
// records only; run in between, it found the record closed, purged no
// letter and scrubbed the record, and the letter and the event stored
// after it outlived the erasure.
//
// Both sides write, then read. iseed erase scrubs the record (a write that
// always changes record.Record.Scrubbed, whatever there was to remove),
// then purges the submission's dead letters and events a second time. The
// pipeline, once it has stored the letter and the event, reads the record
// again from the records bucket's leader (a follower's direct get may not
// have the scrub yet) and, when it was scrubbed after the message's data
// was taken (erasedAfter), removes what it stored. Each side's write is
// acknowledged before its read, and every read is the leader's, which sees
// every acknowledged write. So the letter (or the event) was stored either
// before erase's second purge read the stream, and that purge removed it;
// or after it, and then after the scrub, which the pipeline's read, later
// still, sees. Nothing is read again for a submission that is sent: this
// is for dead-lettered outcomes only.

// erasedAfter reports whether cur, the record as it stands now, was
// scrubbed after the pipeline made a dead letter and an event of a message
// published at published (zero: unknown) from before, the record as it
// read or wrote it then: its scrub is not the one before had (iseed erase,
// or the retention, scrubbed it since), or it came after the message was
// published (a delivery that read the record after the scrub, with a
// message the erasure deleted from the stream under it). A copy published
// after the scrub is new data: its letter stays, as any other. That last
// test compares the NATS server's clock (the message's time) with the
// scrubber's, which NTP keeps within far less than the time between a
// message's publication and an erasure that the pipeline's read of its
// record had missed; the first test compares nothing across clocks.
func erasedAfter(before, cur *record.Record, published time.Time) bool {
	switch {
	case cur == nil || cur.Scrubbed.IsZero():
		return false
	case before == nil || !cur.Scrubbed.Equal(before.Scrubbed):
		return true
	}
	return !published.IsZero() && published.Before(cur.Scrubbed)
}

// withdrawIfErased reads the record of what the pipeline has just
// dead-lettered and announced (before, the record it was made from; the
// letter's id letterID; its message published at published) again from the
// leader and, when it was erased meanwhile (erasedAfter), removes the
// letter, its bytes overwritten, and the submission's events. It logs
// that, naming the submission by tenant and id only. A read or a removal
// that fails is an error: the caller stores and checks again later.
func (p *Pipeline) withdrawIfErased(ctx context.Context, before *record.Record, letterID string, published time.Time) error {
	if before == nil {
		return nil // no record: nothing erase could have scrubbed
	}
	tenant, id := before.Tenant, before.ID
	cur, _, err := p.store.GetFromLeader(ctx, p.d.Publisher, tenant, id)
	if errors.Is(err, record.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !erasedAfter(before, cur, published) {
		return nil
	}
	letters, err := dlq.Withdraw(ctx, p.d.Resources.DLQ, p.lay.DLQSubject(tenant, id), letterID)
	if err != nil {
		return fmt.Errorf("remove the dead letter of %s, erased meanwhile: %w", record.Key(tenant, id), err)
	}
	st, err := p.d.Publisher.Stream(ctx, p.lay.EventsStream())
	if err == nil {
		_, err = p.lay.Events().PurgeOf(ctx, st, tenant, id)
	}
	if err != nil {
		return fmt.Errorf("remove the events of %s, erased meanwhile: %w", record.Key(tenant, id), err)
	}
	p.log.Warn().Str("tenant", tenant).Str("submission", id).Int("dead_letters", letters).
		Msg("submission erased (scrubbed) while its dead letter and event were stored: removed them")
	return nil
}
