package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// CheckpointKey is the key of the scrub's checkpoint in the keys bucket.
const CheckpointKey = "record-scrub-checkpoint"

// checkpoints keeps where the next pass starts: the first sequence of the
// records bucket's stream no pass has dealt with yet. It only moves
// forward, whichever replica writes it.
type checkpoints struct {
	kv jetstream.KeyValue
}

type checkpoint struct {
	Next uint64 `json:"next"`
}

// load returns the checkpoint (0 when there is none yet).
func (c checkpoints) load(ctx context.Context) (uint64, error) {
	cp, _, err := c.get(ctx)
	return cp, err
}

func (c checkpoints) get(ctx context.Context) (next, rev uint64, err error) {
	e, err := c.kv.Get(ctx, CheckpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("retention: checkpoint: %w", err)
	}
	var cp checkpoint
	if err := json.Unmarshal(e.Value(), &cp); err != nil {
		return 0, e.Revision(), nil // unreadable: start over, and write it anew
	}
	return cp.Next, e.Revision(), nil
}

// reset removes the checkpoint: the next pass starts at the stream's
// beginning.
func (c checkpoints) reset(ctx context.Context) error {
	if err := c.kv.Delete(ctx, CheckpointKey); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("retention: checkpoint: %w", err)
	}
	return nil
}

// save moves the checkpoint to next, unless another pass moved it further:
// a compare-and-set, tried again when another replica wrote first.
func (c checkpoints) save(ctx context.Context, next uint64) error {
	b, _ := json.Marshal(checkpoint{Next: next})
	for range 10 {
		cur, rev, err := c.get(ctx)
		if err != nil {
			return err
		}
		if cur >= next {
			return nil
		}
		if rev == 0 {
			_, err = c.kv.Create(ctx, CheckpointKey, b)
		} else {
			_, err = c.kv.Update(ctx, CheckpointKey, b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("retention: checkpoint: %w", err)
		}
	}
	return errors.New("retention: checkpoint: changed concurrently ten times in a row")
}
