package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrReplayUnderWay means another replay of the dead letter, or a purge,
// holds its claim: an operator replaying it at the same moment, perhaps
// with another payload, or purging it. This one did nothing; the other
// may still fail and leave the letter listed.
var ErrReplayUnderWay = errors.New("another replay or purge of it is under way: nothing done by this command; if it is still listed in a minute, run it again")

// ErrReplayMaybePublished means an earlier replay of the dead letter, with
// another payload, stopped after it began to publish (killed, or its
// publish timed out), so its message may be in the submissions stream:
// publishing this one as well could make two paid submissions of one
// letter (two corrections under new ids). Nothing was published.
var ErrReplayMaybePublished = errors.New("an earlier replay of it with another payload stopped while it was publishing, and may have been stored: " +
	"nothing published by this command; run that replay again with the same payload (it is stored at most once), " +
	"or check with iseed status whether its submission arrived and then purge the letter")

// A replay claims its letter before it publishes anything: a key in the
// keys bucket (layout.Resources.Keys) named by the letter's sequence and
// time (claimKey), created only if absent; a purge claims it too. Two replays of one letter at once, whatever
// their payloads, then publish at most one message: the message-id
// deduplication alone (ReplayToken) cannot tell apart two corrections of
// one letter, which have different ids (consumer.ReplayMsgID), and two
// corrections under new ids (a conflict's, or a letter whose id could not
// be read) would each be a new submission, sent and paid. The claim says
// when it was taken and whether its replay was published: one published
// and not removed (the replay stopped, or could not remove the letter)
// makes the next replay remove the letter, publishing nothing; one not
// published and older than claimStale by the NATS server's clock (the
// replay stopped before its publish) may be taken over. The claim goes
// once the letter is gone. Before its publish, a replay notes in its
// claim the message id it publishes under (intend): a publish that failed
// without a refusal, or a replay killed during it, may have stored the
// message, so its claim stays, and is taken over after claimStale only by
// a replay under the same id (the stream stores that id once) or by a
// purge. A replay with another payload, so another id, is refused
// (ErrReplayMaybePublished). A purge that takes such a claim over keeps
// its id, and the claim stays unless the letter is gone: a purge killed
// or refused before its delete would otherwise leave the letter for a
// correction under another id to publish a second time.

// claimStale is how long a claim whose replay has not published may hold
// the letter: longer than a publish takes (publishReplay tries for 15 s).
const claimStale = time.Minute

// claimPrefix starts the keys of replay claims in the keys bucket.
const claimPrefix = "replay-claim-"

type claimState struct {
	At        time.Time `json:"at"`
	Published bool      `json:"published,omitempty"`
	// MsgID is the message id the replay publishes under, noted before
	// its publish; empty until then. A claim taken over keeps the one of
	// the replay it replaces, which may have been stored.
	MsgID string `json:"msg_id,omitempty"`
}

// claim is a replay's hold on its letter (nil when the queue has no
// claims bucket: the message-id deduplication is all there is).
type claim struct {
	kv  jetstream.KeyValue
	key string
	rev uint64
	// inDoubt is the message id of an earlier replay, whose claim this
	// one took over, that may have been stored; "" when none.
	inDoubt string
}

// errPublishedBefore is a claim whose replay was published: the letter
// is to be removed, nothing published.
var errPublishedBefore = errors.New("published before")

// claimKey names the claim of dead letter seq stored at stored. It needs
// no secret (anyone who may write the keys bucket may do far worse), so a
// purge, which signs nothing, claims the letter as a replay does; the
// time tells the letter apart from one of a DLQ stream made anew.
func claimKey(seq uint64, stored time.Time) string {
	return fmt.Sprintf("%s%d-%d", claimPrefix, seq, stored.UnixNano())
}

// claim takes the claim of dead letter seq stored at stored, for a replay
// under message id msgID or, with msgID empty, a purge.
func (q *Queue) claim(ctx context.Context, seq uint64, stored time.Time, msgID string) (*claim, error) {
	if q.claims == nil {
		return nil, nil
	}
	c := &claim{kv: q.claims, key: claimKey(seq, stored)}
	val, err := json.Marshal(claimState{At: time.Now().UTC()})
	if err != nil {
		return nil, err
	}
	for range 3 { // a claim deleted between our create and get: try again
		c.rev, err = c.kv.Create(ctx, c.key, val)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("claim the letter: %w", err)
		}
		e, gerr := c.kv.Get(ctx, c.key)
		if errors.Is(gerr, jetstream.ErrKeyNotFound) {
			continue
		}
		if gerr != nil {
			return nil, fmt.Errorf("claim the letter: %w", gerr)
		}
		var st claimState
		if json.Unmarshal(e.Value(), &st) == nil && st.Published {
			c.rev = e.Revision()
			return c, errPublishedBefore
		}
		// Its age is the server's: the entry's timestamp against the
		// server's time now. The time it says (At) is the claiming
		// machine's, which may be minutes off this one's.
		now, err := q.serverNow(ctx)
		if err != nil {
			return nil, fmt.Errorf("claim the letter: the server's time: %w", err)
		}
		if now.Sub(e.Created()) < claimStale {
			return nil, ErrReplayUnderWay
		}
		if msgID != "" && st.MsgID != "" && st.MsgID != msgID {
			return nil, ErrReplayMaybePublished
		}
		// The id of a replay that may have been stored stays noted (a
		// purge's takes it over): if this one stops before the letter is
		// gone, no replay under another id may publish.
		c.inDoubt = st.MsgID
		took, err := json.Marshal(claimState{At: time.Now().UTC(), MsgID: st.MsgID})
		if err != nil {
			return nil, err
		}
		c.rev, err = c.kv.Update(ctx, c.key, took, e.Revision())
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return nil, ErrReplayUnderWay // another replay took the stale claim over first
		}
		if err != nil {
			return nil, fmt.Errorf("claim the letter: %w", err)
		}
		return c, nil
	}
	return nil, ErrReplayUnderWay
}

// intend notes in the claim, before the replay's publish, the message id
// it publishes under. A failure publishes nothing: the claim is released.
func (c *claim) intend(ctx context.Context, msgID string) error {
	if c == nil {
		return nil
	}
	val, err := json.Marshal(claimState{At: time.Now().UTC(), MsgID: msgID})
	if err != nil {
		return err
	}
	rev, err := c.kv.Update(ctx, c.key, val, c.rev)
	if err != nil {
		return fmt.Errorf("note the replay in its claim: %w", err)
	}
	c.rev = rev
	return nil
}

// published notes that the claim's replay is published. Best effort: the
// letter's removal, which follows, is what stops another replay; the
// note stands for it only while the removal fails.
func (c *claim) published(ctx context.Context) {
	if c == nil {
		return
	}
	val, err := json.Marshal(claimState{At: time.Now().UTC(), Published: true})
	if err != nil {
		return
	}
	if rev, err := c.kv.Update(ctx, c.key, val, c.rev); err == nil {
		c.rev = rev
	}
}

// drop removes the claim of a replay that published nothing, unless the
// claim it took over noted an earlier replay that may have been stored
// (inDoubt): that note stays, so that no replay under another id
// publishes a second message for the letter, until the letter is gone or
// a replay under that id takes the claim over again.
func (c *claim) drop(ctx context.Context) {
	if c == nil || c.inDoubt != "" {
		return
	}
	c.release(ctx)
}

// release removes the claim: its letter is gone, or its replay published
// nothing. Best effort: a claim left behind holds nothing once its letter
// is gone, and one not published goes stale.
func (c *claim) release(ctx context.Context) {
	if c == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	_ = c.kv.Delete(rctx, c.key, jetstream.LastRevision(c.rev))
}
