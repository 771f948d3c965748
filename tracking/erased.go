package tracking

import (
	"context"
	"errors"
	"fmt"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// An override of a give-up (catchUp) runs on a closed record, with no
// tracking task: iseed erase, which refuses only open records and those
// whose task is still there, can run while it downloads the final
// document. The override stores the document and publishes its events,
// then writes the record by compare-and-set; an erasure that scrubbed the
// record meanwhile makes that write fail, and the record read again is
// scrubbed, which no override takes (overridesGiveUp). What the override
// stored before erase's last sweep (its documents, dead letters and events
// once more, after the scrub) that sweep removes; what it stored after,
// its failed write proves came after the scrub, and removeErasedOverride
// removes it. Nothing the override stored outlives the erasure.

// removeErasedOverride removes what an override of rec's give-up stored,
// the record scrubbed since: the document it stored (doc, nil when it
// stored none) with the deletion marker that names it, and the
// submission's events. It logs that, naming the submission by tenant and
// id only.
func (t *Tracker) removeErasedOverride(ctx context.Context, rec *record.Record, doc *storedDocument) error {
	key := record.Key(rec.Tenant, rec.ID)
	if doc != nil {
		if err := t.unstore(ctx, doc.ref); err != nil {
			return fmt.Errorf("remove the document of %s, erased meanwhile: %w", key, err)
		}
	}
	st, err := t.d.Publisher.Stream(ctx, t.lay.EventsStream())
	if err == nil {
		_, err = t.lay.Events().PurgeOf(ctx, st, rec.Tenant, rec.ID)
	}
	if err != nil {
		return fmt.Errorf("remove the events of %s, erased meanwhile: %w", key, err)
	}
	t.log.Warn().Str("tenant", rec.Tenant).Str("submission", rec.ID).
		Msg("submission erased (scrubbed) while the upstream's late completion was being stored: removed its document and events")
	return nil
}

// unstore deletes a stored document and purges the deletion marker the
// object store keeps, which names it (as iseed erase does).
func (t *Tracker) unstore(ctx context.Context, ref record.DocumentRef) error {
	obs, err := t.d.Publisher.ObjectStore(ctx, ref.Bucket)
	if err != nil {
		return err
	}
	if err := obs.Delete(ctx, ref.Object); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return err
	}
	st, err := t.d.Publisher.Stream(ctx, "OBJ_"+ref.Bucket)
	if err != nil {
		return err
	}
	return st.Purge(ctx, jetstream.WithPurgeSubject(layout.ObjectMetaSubject(ref.Bucket, ref.Object)))
}
