package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// CheckpointKey is the key of the scrub's checkpoint in the keys bucket.
const CheckpointKey = "record-scrub-checkpoint"

// checkpoints keeps where the next pass starts: the first sequence of the
// records bucket's stream no pass has dealt with yet, and which stream
// that is (its creation time). It only moves forward within one stream,
// whichever replica writes it.
type checkpoints struct {
	kv jetstream.KeyValue
}

type checkpoint struct {
	Next uint64 `json:"next"`
	// Stream is when the records bucket's stream was created: a bucket
	// deleted and made anew has sequences of its own, and a checkpoint of
	// the old one means nothing there. Zero in a checkpoint written
	// before it was kept.
	Stream time.Time `json:"stream,omitzero"`
	// Removes is the scrubRemoves of the pass that wrote it; zero in a
	// checkpoint written before it was kept.
	Removes int `json:"removes,omitempty"`
}

// scrubRemoves numbers what record.Record.Scrub removes, counting up each
// time it removes more: a checkpoint written by a scrub that removed less
// lies past records that still hold the rest, and a pass starts over from
// the stream's beginning to scrub them (2: the document's file name; 3: an
// upstream state the API does not publish, the upstream's free text).
// While a replica of an older iseed still scrubs (a rolling upgrade), its
// checkpoints make the new ones start over again: each pass then reads the
// whole bucket, writing only what is left to scrub.
const scrubRemoves = 3

// behind reports whether the checkpoint was written by a scrub that
// removed less than this one.
func (cp checkpoint) behind() bool { return cp.Next > 0 && cp.Removes < scrubRemoves }

// of reports whether the checkpoint is one of the stream created at
// created (or does not say).
func (cp checkpoint) of(created time.Time) bool {
	return cp.Stream.IsZero() || cp.Stream.Equal(created)
}

// load returns the checkpoint (zero when there is none yet).
func (c checkpoints) load(ctx context.Context) (checkpoint, error) {
	cp, _, err := c.get(ctx)
	return cp, err
}

func (c checkpoints) get(ctx context.Context) (cp checkpoint, rev uint64, err error) {
	e, err := c.kv.Get(ctx, CheckpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return checkpoint{}, 0, nil
	}
	if err != nil {
		return checkpoint{}, 0, fmt.Errorf("retention: checkpoint: %w", err)
	}
	if err := json.Unmarshal(e.Value(), &cp); err != nil {
		return checkpoint{}, e.Revision(), nil // unreadable: start over, and write it anew
	}
	return cp, e.Revision(), nil
}

// reset removes the checkpoint: the next pass starts at the stream's
// beginning.
func (c checkpoints) reset(ctx context.Context) error {
	if err := c.kv.Delete(ctx, CheckpointKey); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("retention: checkpoint: %w", err)
	}
	return nil
}

// save moves the checkpoint to next in the stream created at created,
// unless another pass of this scrub moved it as far or further in that
// stream (ahead): a compare-and-set, tried again when another replica
// wrote first. A checkpoint of another stream, or of a scrub that removed
// less, is replaced.
func (c checkpoints) save(ctx context.Context, next uint64, created time.Time) (ahead bool, err error) {
	b, _ := json.Marshal(checkpoint{Next: next, Stream: created, Removes: scrubRemoves})
	for range 10 {
		cur, rev, err := c.get(ctx)
		if err != nil {
			return false, err
		}
		if cur.Stream.Equal(created) && cur.Next >= next && !cur.behind() {
			return true, nil
		}
		if rev == 0 {
			_, err = c.kv.Create(ctx, CheckpointKey, b)
		} else {
			_, err = c.kv.Update(ctx, CheckpointKey, b, rev)
		}
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return false, fmt.Errorf("retention: checkpoint: %w", err)
		}
	}
	return false, errors.New("retention: checkpoint: changed concurrently ten times in a row")
}
