package dlq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/iseed-dev/iseed/internal/jsread"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/servertime"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReplayHeader marks a message republished from the DLQ by an operator; its
// value names the dead letter and is signed (SignReplay).
const ReplayHeader = "Iseed-Replay-Of"

// CorrectionHeader marks a replay as an operator's correction
// (Queue.ReplayWith with a payload): its payload may take the place of the
// one its submission was recorded with. Its value is signed
// (SignCorrection). A replay without it is a plain one, "the same again":
// the pipeline refuses one whose payload is another submission than the
// recorded one, as a conflict, and sends nothing.
const CorrectionHeader = "Iseed-Replay-Correction"

// TenantAskedHeader marks a replay as one the tenant asked for (iseed dlq
// replay --tenant-asked): it may reopen a submission its producer
// withdrew (record.Record.WithdrawnClosed). Its value is signed
// (SignTenantAsked). The pipeline refuses a replay without it of such a
// submission, whatever the operator's side checked: the producer may
// withdraw it between that check and the replay.
const TenantAskedHeader = "Iseed-Replay-Tenant-Asked"

// ReplayOptions is what an operator asks of a replay beyond the letter.
type ReplayOptions struct {
	// Payload takes the place of the letter's own (nil: the letter's): an
	// operator's corrected submission, marked so (CorrectionHeader).
	Payload []byte
	// TenantAsked marks the replay as one the tenant asked for
	// (TenantAskedHeader).
	TenantAsked bool
}

// ErrReplayDuplicate means the stream took a replay for a duplicate of a
// message that is not a replay of the dead letter, or no longer there to
// tell: the replay was not stored, and the dead letter is kept.
var ErrReplayDuplicate = errors.New("the stream reported the replay as a duplicate: not stored; the dead letter is kept")

// ErrReplayedAlready means a replay of the dead letter is in the stream
// already: another operator's, replaying it at the same moment, or an
// earlier one that stopped before removing the letter. The stream dropped
// this one as its duplicate (a letter's replays share their message id,
// ReplayToken), and the letter is removed: it was replayed once.
var ErrReplayedAlready = errors.New("it was replayed already (by another replay at the same moment, or an earlier one that stopped before removing the letter): not replayed again")

// ErrNotRemoved means a replay was published but its dead letter could
// not be removed: it is still listed, and replaying it again reopens
// nothing (record.Record.Replays).
var ErrNotRemoved = errors.New("replayed, but the dead letter could not be removed")

// ErrMaybeStored means a replay's publish failed without the server's
// refusal (a timeout, a cut connection): it may have been stored, and the
// submission may reopen. The letter is kept, and its claim names the
// replay's message id, so that running the same replay again stores it at
// most once.
var ErrMaybeStored = errors.New("it may have been stored: in a minute, run the same replay again, which stores it at most once")

// Queue lists and replays dead letters: the operator's view of the DLQ stream.
type Queue struct {
	js     jetstream.JetStream
	layout layout.Layout
	stream jetstream.Stream
	key    []byte
	msgID  func(subject string, payload []byte, token string) string
	claims jetstream.KeyValue // replays' claims on their letters (claim.go); nil: none
	// serverNow is the NATS server's time, which a claim's age (claim.go)
	// and a lease (CheckReopen) are judged by: operators' machines need
	// not agree on the time.
	serverNow func(context.Context) (time.Time, error)
	// local is this machine's clock (time.Now; a test sets it wrong): it
	// only carries the server's time between syncs.
	local func() time.Time
	clock *serverClock
	// listBatch is how many letters' headers a fetch of List asks for
	// (ListBatch; a test sets fewer): every fetch of an ordered consumer
	// makes a consumer of its own, on a cluster through its meta leader,
	// and a list of thousands of letters after an outage made as many.
	listBatch int
}

// ListBatch is how many dead letters' headers a fetch of List asks for.
const ListBatch = 256

// serverClock is the server's time as a queue learned it.
type serverClock struct {
	mu     sync.Mutex
	clock  *servertime.Clock // nil until the first sync
	synced time.Time         // this machine's time at the last sync; zero: none
}

// resync is how often a queue learns the server's time again, as the
// daemon's clock does: a console's queue lives as long as the daemon.
const resync = time.Minute

// syncedNow is the NATS server's time, learned from the keys bucket
// (servertime.Clock) at most once a resync, not at every check: a replay
// of thousands of letters asks it for each. A failed sync keeps an
// earlier estimate. Without the bucket it is this machine's time.
func (q *Queue) syncedNow(ctx context.Context) (time.Time, error) {
	if q.claims == nil {
		return q.local(), nil
	}
	c := q.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clock == nil {
		c.clock = servertime.NewWithLocal(q.claims, 0, q.local)
	}
	if c.synced.IsZero() || q.local().Sub(c.synced) >= resync {
		err := c.clock.Sync(ctx)
		if err != nil && c.synced.IsZero() {
			return time.Time{}, err
		}
		if err == nil {
			c.synced = q.local()
		}
	}
	return c.clock.Now(), nil
}

// NewQueue returns the operator's view of the dead-letter stream. key signs
// replays (nil: Replay refuses); msgID names a replayed message's
// Nats-Msg-Id from the letter's ReplayToken (nil: "replay.<token>"). The
// id must hold the token: it makes every replay of one letter one message
// (the stream drops the others as duplicates), and makes the id
// unguessable.
func NewQueue(js jetstream.JetStream, r *layout.Resources, key []byte, msgID func(subject string, payload []byte, token string) string) *Queue {
	if msgID == nil {
		msgID = func(_ string, _ []byte, token string) string { return "replay." + token }
	}
	q := &Queue{js: js, layout: r.Layout, stream: r.DLQ, key: key, msgID: msgID, claims: r.Keys, local: time.Now, clock: &serverClock{}, listBatch: ListBatch}
	q.serverNow = q.syncedNow
	return q
}

// Filter selects dead letters; empty fields match all.
type Filter struct {
	Tenant string
	// Submission, with Tenant, selects one submission's letters: those on
	// its subject (Layout.DLQSubject), read from that subject alone.
	Submission string
	Reason     string
	Since      time.Time // stored at or after
	Until      time.Time // stored at or before
	Limit      int       // 0: no limit
}

// Empty reports whether the filter selects every dead letter.
func (f Filter) Empty() bool {
	return f.Tenant == "" && f.Submission == "" && f.Reason == "" && f.Since.IsZero() && f.Until.IsZero()
}

// Match reports whether dl passes the filter (Limit aside).
func (f Filter) Match(dl DeadLetter) bool {
	switch {
	case f.Tenant != "" && dl.Tenant != f.Tenant:
		return false
	case f.Reason != "" && dl.Reason != f.Reason && (f.Reason != ReasonUnknown || dl.Reason != ""):
		return false
	case !f.Since.IsZero() && dl.Stored.Before(f.Since):
		return false
	case !f.Until.IsZero() && dl.Stored.After(f.Until):
		return false
	}
	return true
}

// List returns dead letters oldest first. A list that stops before the
// last letter its filter may match (fetches that failed or timed out, ctx
// done) is an error, with the letters read so far: replay and purge act on
// it. A fetch answered "no responders" (a cluster's) or that brings
// nothing is tried again, twice in a row at most (jsread.Read).
func (q *Queue) List(ctx context.Context, f Filter) ([]DeadLetter, error) {
	// The consumer counts the letters it will deliver, since f.Since
	// included: none is no fetch. (A stream info filtered by subject would
	// list every letter's subject, one a submission, to say as much.)
	var out []DeadLetter
	err := jsread.Read(ctx, q.stream, q.consumerFor(f), jsread.Options{Batch: q.listBatch, Wait: 2 * time.Second, Noun: "dead letter(s)"}, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		dl := Parse(meta.Sequence.Stream, m.Headers())
		dl.Stored = meta.Timestamp
		if !f.Until.IsZero() && dl.Stored.After(f.Until) {
			return jsread.Stop // stored in order: the rest are later still
		}
		if f.Match(dl) {
			out = append(out, dl)
		}
		if f.Limit > 0 && len(out) >= f.Limit {
			return jsread.Stop
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("dlq: list: %w", err)
	}
	return out, nil
}

// consumerFor reads the dead letters of f's tenant from f.Since on, their
// headers only: a listed letter is its headers (Parse), and a payload may
// be megabytes that a tenant chose, which a list, or a filter matching few
// letters, would otherwise pull from NATS for every letter it passes.
func (q *Queue) consumerFor(f Filter) jetstream.OrderedConsumerConfig {
	tenant, id := "*", "*"
	if f.Tenant != "" {
		tenant = f.Tenant
	}
	if f.Submission != "" {
		id = f.Submission
	}
	// Every letter is read without a filter: the stream has no other
	// subject (layout.Ensure). A filter matching each letter's subject, one
	// a submission, made the server count the subjects it matches at each
	// fetch's new consumer (jsread.Read), every letter's: the list of an
	// outage's letters grew with their square.
	cfg := jetstream.OrderedConsumerConfig{HeadersOnly: true}
	if tenant != "*" || id != "*" {
		cfg.FilterSubjects = []string{q.layout.DLQSubject(tenant, id)}
	}
	if !f.Since.IsZero() {
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	return cfg
}

// publishReplay publishes a replay. A stream that keeps one message per
// subject (tracking tasks) refuses it while the task it replaces is still
// there: the tracker dead-letters a request before it acknowledges its
// task, so an operator quick enough meets that moment. Nothing was stored:
// the publish is tried again for a while. The submissions stream refuses
// a submission's replay the same way when its tenant holds as many
// submissions as the tenant quota allows (layout.Layout.
// TenantMaxSubmissions): only the tenant's oldest ageing out makes room,
// so that refusal is returned at once.
func (q *Queue) publishReplay(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	b := backoff.WithContext(backoff.NewExponentialBackOff(backoff.WithInitialInterval(50*time.Millisecond),
		backoff.WithMaxInterval(time.Second), backoff.WithMaxElapsedTime(15*time.Second)), ctx)
	return backoff.RetryWithData(func() (*jetstream.PubAck, error) {
		ack, err := q.js.PublishMsg(ctx, m)
		full := layout.AtQuota(err)
		if tenant := q.layout.TenantOf(m.Subject); full && tenant != "" {
			return nil, backoff.Permanent(fmt.Errorf("the submissions stream holds as many of tenant %s's submissions as its quota allows: %w", tenant, err))
		}
		if full {
			return nil, err
		}
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		return ack, nil
	}, b)
}

// refusedPublish reports whether a publish failed with the server's
// refusal, or with nobody to take it: nothing was stored.
func refusedPublish(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders)
}

// Replay republishes dead letter seq to its original subject, marked as a
// signed replay, and then removes it from the DLQ. Replaying is safe: the
// pipeline never sends a submission twice, and a failure after an
// unanswered POST is reconciled before anything is sent again. A replay
// the stream does not store (a duplicate) fails with ErrReplayDuplicate
// and keeps the dead letter.
func (q *Queue) Replay(ctx context.Context, seq uint64) error {
	return q.ReplayWith(ctx, seq, nil)
}

// ReplayWith is Replay with payload instead of the dead letter's own (nil:
// the dead letter's): an operator's corrected submission, marked so
// (CorrectionHeader). A replay with nil is a plain one, never a correction.
//
// Two replays of one letter at the same moment (two operators) publish
// one message: both carry the letter's ReplayToken in their message id,
// and the stream drops the second as a duplicate (within its duplicate
// window, ISEED_DEDUP_WINDOW). Its caller gets ErrReplayedAlready, not
// success. So does one that replays a letter whose earlier replay was
// published but not removed (ErrNotRemoved): it is removed then.
func (q *Queue) ReplayWith(ctx context.Context, seq uint64, payload []byte) error {
	return q.ReplayAs(ctx, seq, ReplayOptions{Payload: payload})
}

// ReplayAs is ReplayWith with the options o.
func (q *Queue) ReplayAs(ctx context.Context, seq uint64, o ReplayOptions) error {
	payload := o.Payload
	if len(q.key) == 0 {
		return errors.New("dlq: no replay key: replays cannot be signed")
	}
	raw, err := q.getMsg(ctx, seq)
	if err != nil {
		return err
	}
	if err := q.CheckOrigin(&Letter{DeadLetter: Parse(seq, raw.Header), Subject: raw.Subject}); err != nil {
		return fmt.Errorf("dlq: replay %d: %w", seq, err)
	}
	subject := raw.Header.Get(HeaderOriginalSubject)
	correction := payload != nil
	if payload == nil {
		payload = raw.Data
	}
	msgID := q.msgID(subject, payload, ReplayToken(q.key, seq, raw.Time))
	c, err := q.claim(ctx, seq, raw.Time, msgID)
	if errors.Is(err, errPublishedBefore) {
		return q.removeReplayed(ctx, seq, c, ErrReplayedAlready)
	}
	if err != nil {
		return fmt.Errorf("dlq: replay %d: %w", seq, err)
	}
	// Claimed: a replay that held the claim before may have removed the
	// letter meanwhile (and its claim with it). A letter that cannot be
	// read (NATS trouble) may still be there: the note of a replay that
	// may have been stored stays (drop).
	if _, err := q.getMsg(ctx, seq); err != nil {
		if errors.Is(err, ErrNotFound) {
			c.release(ctx)
		} else {
			c.drop(ctx)
		}
		return err
	}
	if err := c.intend(ctx, msgID); err != nil {
		c.drop(ctx)
		return fmt.Errorf("dlq: replay %d: %w", seq, err)
	}
	m := nats.NewMsg(subject)
	m.Data = payload
	m.Header.Set(ReplayHeader, SignReplay(q.key, seq, subject, payload))
	if correction {
		m.Header.Set(CorrectionHeader, SignCorrection(q.key, seq, subject, payload))
	}
	if o.TenantAsked {
		m.Header.Set(TenantAskedHeader, SignTenantAsked(q.key, seq, subject, payload))
	}
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	ack, err := q.publishReplay(ctx, m)
	if err != nil && refusedPublish(err) {
		c.drop(ctx)
		return fmt.Errorf("dlq: replay %d: %w", seq, err)
	}
	if err != nil {
		// It may be stored all the same (a timeout, a cut connection): the
		// claim, which names its id, stays, so that no replay under
		// another id publishes a second message for the letter.
		return fmt.Errorf("dlq: replay %d: %w (%w)", seq, err, ErrMaybeStored)
	}
	var dup error
	if ack.Duplicate {
		if dup = q.replayedAlready(ctx, ack, seq); !errors.Is(dup, ErrReplayedAlready) {
			c.drop(ctx)
			return fmt.Errorf("dlq: replay %d: %w", seq, dup)
		}
	}
	// Published, or a replay of the letter was already: the claim says so
	// until the letter is gone, so that no other replay publishes. The
	// letter's removal is what matters most: it is tried even if the
	// note is not.
	c.published(context.WithoutCancel(ctx))
	return q.removeReplayed(ctx, seq, c, dup)
}

// removeReplayed removes dead letter seq, whose replay is published, and
// then its claim c: now, even if the operator interrupts meanwhile, or
// running the command again would replay it again. It returns dup (nil
// when this replay was published) when the letter is gone.
func (q *Queue) removeReplayed(ctx context.Context, seq uint64, c *claim, dup error) error {
	if err := q.remove(ctx, seq); err != nil {
		return fmt.Errorf("dlq: replay %d: %w: %w", seq, ErrNotRemoved, err)
	}
	c.release(ctx)
	if dup != nil {
		return fmt.Errorf("dlq: replay %d: %w", seq, dup)
	}
	return nil
}

// replayedAlready says what the message a replay of dead letter seq was
// the duplicate of is (the stream acknowledges a duplicate with the
// original's sequence): ErrReplayedAlready when it is a signed replay of
// that letter, else ErrReplayDuplicate. A message someone else published
// under the id is not the letter's replay: the letter stays. One gone
// already (a tracking task the tracker took: that stream is a work queue)
// was the letter's replay: its id holds the letter's token, which only a
// holder of the replay key can make.
func (q *Queue) replayedAlready(ctx context.Context, ack *jetstream.PubAck, seq uint64) error {
	st, err := q.js.Stream(ctx, ack.Stream)
	if err != nil {
		return fmt.Errorf("%w (reading the message it repeats: %w)", ErrReplayDuplicate, err)
	}
	orig, err := st.GetMsg(ctx, ack.Sequence)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return ErrReplayedAlready
	}
	if err != nil {
		return fmt.Errorf("%w (reading the message it repeats: %w)", ErrReplayDuplicate, err)
	}
	if n, ok := VerifyReplay(q.key, orig.Header.Get(ReplayHeader), orig.Subject, orig.Data); ok && n == seq {
		return ErrReplayedAlready
	}
	return ErrReplayDuplicate
}

// remove removes dead letter seq once it is replayed; one gone already is
// not an error.
func (q *Queue) remove(ctx context.Context, seq uint64) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	err := q.stream.SecureDeleteMsg(rctx, seq)
	if err == nil {
		return nil
	}
	// The server answers a delete of a missing message with a generic
	// failure: the letter may be gone already, removed meanwhile by
	// another replay of it, an operator's purge, or the tracker, which
	// withdraws the gave_up letter of a give-up the upstream's completion
	// overrode.
	if _, gerr := q.getMsg(rctx, seq); errors.Is(gerr, ErrNotFound) {
		return nil
	}
	return err
}

// removeTimeout bounds the removal of a dead letter once its replay is
// published, which an interrupt does not stop.
const removeTimeout = 10 * time.Second
