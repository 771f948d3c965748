package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// What CancelUnsent did with a submission (CancelResult.Outcome).
const (
	// CancelDone: the held record is marked cancelled (now, or by an
	// earlier cancel) and its message sent again: its delivery fails it
	// cancelled_by_operator, nothing sent. Also a submission failed so
	// already.
	CancelDone = "cancelled"
	// CancelNotHeld: the record is neither held nor claimed
	// (CancelResult.State says what it is): sent, or closed; nothing
	// changed.
	CancelNotHeld = "not_held"
	// CancelBeingSent: held or claimed, but a delivery may have posted it
	// (a POST in doubt): too late; nothing changed.
	CancelBeingSent = "being_sent"
	// CancelUnknown: no record of the submission (never received, or not
	// yet claimed): nothing changed.
	CancelUnknown = "unknown"
	// CancelClosed: only a withdrawal's, of a record rejected or failed
	// with nothing sent (no upstream request, no POST in doubt): marked
	// withdrawn (now, or by an earlier withdrawal;
	// record.Record.WithdrawnClosed), so that a replay of its dead letters
	// is refused unless the tenant asks. An operator's cancel of such a
	// record is CancelNotHeld: nothing changes.
	CancelClosed = "closed"
)

// ErrCancelMarked means that CancelUnsent marked the held record cancelled
// but could not send its message again to fail it: the submission is
// cancelled all the same (no delivery sends it now, the one that has it
// fails it cancelled_by_operator), only later; the same cancel again
// sends the message.
var ErrCancelMarked = errors.New("marked cancelled")

// CancelResult is what CancelUnsent did with one submission.
type CancelResult struct {
	Outcome string `json:"outcome"`
	State   string `json:"state,omitempty"` // the record's state when it was read
	Why     string `json:"why,omitempty"`
}

// CancelUnsent cancels a submission that is not sent yet, held back by a
// spending cap or claimed by a worker still waiting to send it, so that it
// is never sent: an operator's answer to a runaway backlog (its tenant's
// script published thousands by mistake, and each cap period would send
// as many as the cap allows until ISEED_MAX_AGE), or to an erasure request
// for a person whose submission is still held (iseed erase refuses open
// submissions).
//
// Only a held record with no POST in doubt is marked (CancelRequested,
// compare-and-set on the record), and a claimed one not sent yet: a
// worker waiting for its upstream token under an Unsent lease, or none
// holding it (its message handed back for a later delivery). Every
// delivery's write of the record is a compare-and-set too, so a delivery
// holding an Unsent lease can no longer mark its attempt, nor renew its
// lease while it waits, and sends nothing; the mark ends that lease, so
// that the next delivery fails the record at once. A claimed record's
// message is with the consumer (in progress, or to be delivered again):
// its next delivery fails it. A held one's message is published again, as a
// release is, and its delivery fails the record cancelled_by_operator, as
// one past ISEED_MAX_AGE fails expired: its dead letter (replayable: the
// replay sends it after all), its failed event, a reservation given back;
// the daemon's holds pass removes its key. When the message cannot be
// published again (gone from the stream, or refused by it: the tenant's
// quota, a size limit lowered since), its hold key is marked Cancelled,
// and the pass fails the record itself within seconds, also behind
// older holds of the tenant that must stay. Run again,
// it marks nothing more and publishes the same message again (the stream
// deduplicates it).
func CancelUnsent(ctx context.Context, js jetstream.JetStream, res *layout.Resources, tenant, id string, now time.Time) (CancelResult, error) {
	return cancelUnsent(ctx, js, res, tenant, id, now, "")
}

// Unsent reports whether CancelUnsent can cancel rec: held by a spending
// cap or claimed (a worker waiting for its upstream token, or its message
// handed back), with no upstream request and no POST of it in doubt. One
// marked cancelled already is still Unsent until a delivery fails it.
func Unsent(rec *record.Record) bool {
	return (rec.State == record.StateHeld || rec.State == record.StateClaimed) && rec.RequestID == "" && !rec.PostInDoubt()
}

// cancelUnsent is CancelUnsent for whoever asked: by is record.Record's
// CancelledBy (empty: an operator). A record marked already keeps the
// mark it has.
func cancelUnsent(ctx context.Context, js jetstream.JetStream, res *layout.Resources, tenant, id string, now time.Time, by string) (CancelResult, error) {
	store := record.NewStore(res.Records)
	for range 5 {
		rec, rev, err := store.Get(ctx, tenant, id)
		if errors.Is(err, record.ErrNotFound) {
			// A replica that lags answers a direct get with "no such
			// key" for a record the leader has: only the leader's word
			// makes it unknown (a withdrawal refused, an operator told so).
			rec, rev, err = store.GetFromLeader(ctx, js, tenant, id)
		}
		if errors.Is(err, record.ErrNotFound) {
			return CancelResult{Outcome: CancelUnknown, Why: "no record of it: not received yet, or not a submission of this tenant"}, nil
		}
		if err != nil {
			return CancelResult{}, err
		}
		switch {
		case cancelledAlready(rec):
			return CancelResult{Outcome: CancelDone, State: rec.State, Why: "cancelled already"}, nil
		case by == record.CancelledByTenant && closedUnsent(rec):
			if rec.CancelRequested.IsZero() {
				if _, err := markCancelled(ctx, store, rec, rev, now, by); errors.Is(err, record.ErrRevision) {
					continue
				} else if err != nil {
					return CancelResult{}, err
				}
			}
			return CancelResult{Outcome: CancelClosed, State: rec.State,
				Why: rec.State + " already with nothing sent, and withdrawn: no replay of its dead letter sends it unless the tenant asks"}, nil
		case rec.State != record.StateHeld && rec.State != record.StateClaimed:
			return CancelResult{Outcome: CancelNotHeld, State: rec.State, Why: notHeldWhy(rec)}, nil
		case !Unsent(rec):
			return CancelResult{Outcome: CancelBeingSent, State: rec.State,
				Why: "it is being sent (a POST of it may have been made): too late to cancel"}, nil
		}
		if rec.CancelRequested.IsZero() {
			next, err := markCancelled(ctx, store, rec, rev, now, by)
			if errors.Is(err, record.ErrRevision) {
				continue // a delivery moved it meanwhile: look again
			} else if err != nil {
				return CancelResult{}, err
			}
			rec = next
		}
		if rec.State == record.StateClaimed {
			return CancelResult{Outcome: CancelDone, State: rec.State,
				Why: "not sent yet: its delivery sends nothing, and the next one fails it"}, nil
		}
		why, err := sendCancelled(ctx, js, res, rec)
		if err != nil {
			return CancelResult{}, fmt.Errorf("%s is %w, but its message could not be sent again to fail it (run the command again): %w", record.Key(tenant, id), ErrCancelMarked, err)
		}
		return CancelResult{Outcome: CancelDone, State: rec.State, Why: why}, nil
	}
	return CancelResult{}, fmt.Errorf("%s: its record kept changing under the cancel (deliveries of it running): run the command again", record.Key(tenant, id))
}

// markCancelled writes rec (at revision rev) marked cancelled at now by
// by, and returns it so; record.ErrRevision when a delivery moved it
// meanwhile.
func markCancelled(ctx context.Context, store *record.Store, rec *record.Record, rev uint64, now time.Time, by string) (*record.Record, error) {
	next := rec.Clone()
	next.CancelRequested, next.CancelledBy, next.Updated = now, by, now
	if next.Pending != nil { // Unsent: its holder sends nothing now, and the next delivery need not wait for it
		lease := *next.Pending
		lease.Until = now
		next.Pending = &lease
	}
	if _, err := store.Update(ctx, next, rev); errors.Is(err, record.ErrRevision) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("mark %s cancelled: %w", record.Key(rec.Tenant, rec.ID), err)
	}
	return next, nil
}

// closedUnsent reports whether rec is rejected or failed with nothing
// sent: no upstream request, no POST of it in doubt.
func closedUnsent(rec *record.Record) bool {
	return (rec.State == record.StateRejected || rec.State == record.StateFailed) && rec.RequestID == "" && !rec.PostInDoubt()
}

// notHeldWhy says why rec, neither held nor claimed, is not cancelled.
func notHeldWhy(rec *record.Record) string {
	switch {
	case rec.RequestID != "":
		return "sent already: its upstream request exists (and is paid)"
	case rec.PostInDoubt():
		return rec.State + " already, and an earlier POST of it may have created its upstream request: a replay reconciles it first"
	case rec.State == record.StateRejected || rec.State == record.StateFailed:
		return "closed already: nothing was sent, nor is unless its dead letter is replayed"
	default:
		return "sent already: its upstream request exists (and is paid)"
	}
}

// sendCancelled publishes the held message of rec, marked cancelled, on
// its subject again, so that its delivery fails it; why says what happens
// when it cannot be (the holds pass fails it).
func sendCancelled(ctx context.Context, js jetstream.JetStream, res *layout.Resources, rec *record.Record) (why string, err error) {
	e, err := res.Holds.Get(ctx, holdKey(rec.Tenant, rec.ID, rec.HeldSince))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "its hold key is not there now (held again, or released, at this moment): the delivery that has it fails it; if it stays held, run the command again", nil
	}
	if err != nil {
		return "", err
	}
	var he holdEntry
	if err := json.Unmarshal(e.Value(), &he); err != nil {
		return "", fmt.Errorf("hold entry %s: %w", e.Key(), err)
	}
	raw, gone, err := heldMessage(ctx, res, rec, he)
	if err != nil {
		return "", err
	}
	if gone {
		return markHoldCancelled(ctx, res, e, he, "its message is gone from the submissions stream: the daemon's holds pass fails it"), nil
	}
	m := nats.NewMsg(he.Subject)
	m.Data = raw.Data
	m.Header.Set(jetstream.MsgIDHeader, cancelMsgID(rec))
	var refused *jetstream.APIError
	if _, err := js.PublishMsg(ctx, m); errors.As(err, &refused) {
		return markHoldCancelled(ctx, res, e, he, fmt.Sprintf("the stream refused its message (%v): the daemon's holds pass fails it", refused)), nil
	} else if err != nil {
		return "", err
	}
	return "", nil
}

// markHoldCancelled marks hold entry e (he) Cancelled, so that the
// daemon's holds pass fails it without waiting for the tenant's older
// holds, and returns why, the outcome's explanation; when the key changed
// meanwhile (another replica renewed it, the pass ended it), why says the
// pass fails it in the hold's turn.
func markHoldCancelled(ctx context.Context, res *layout.Resources, e jetstream.KeyValueEntry, he holdEntry, why string) string {
	he.Cancelled = true
	v, err := json.Marshal(he)
	if err == nil {
		_, err = res.Holds.Update(ctx, e.Key(), v, e.Revision())
	}
	if err != nil {
		return why + " in its turn, after the tenant's older holds (its hold key could not be marked: " + err.Error() + ")"
	}
	return why + " within seconds"
}

// HeldIDs returns the ids of tenant's submissions held now, oldest hold
// first, from the holds bucket.
func HeldIDs(ctx context.Context, res *layout.Resources, tenant string) ([]string, error) {
	keys, err := res.Holds.ListKeysFiltered(ctx, tenant+".>")
	if err != nil {
		return nil, fmt.Errorf("held submissions of %s: %w", tenant, err)
	}
	var held []string
	for k := range keys.Keys() {
		if t, _, ok := parseHoldKey(k); ok && t == tenant {
			held = append(held, k)
		}
	}
	slices.Sort(held) // by the hold's time, then id
	ids := make([]string, 0, len(held))
	seen := make(map[string]bool, len(held))
	for _, k := range held {
		if _, id, _ := parseHoldKey(k); !seen[id] { // a key left by an earlier hold of it
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// cancelMsgID is the message id of a held submission handed back to its
// delivery to be failed cancelled: one per cancellation asked for.
func cancelMsgID(rec *record.Record) string {
	return publisher.RepublishMsgID(rec.Tenant, rec.ID, rec.Fingerprint, "c"+strconv.FormatInt(rec.CancelRequested.UnixNano(), 10))
}
