package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/nats-io/nats.go/jetstream"
)

// Settings are what every replica must share of its Config: each refills
// and caps the shared bucket with its own Rate and Burst, and its polls
// leave its own Reserve, so replicas configured otherwise keep a budget
// that is none of theirs.
type Settings struct {
	Rate    float64 `json:"rate"`
	Burst   int     `json:"burst"`
	Reserve int     `json:"reserve"`
}

// Settings returns the Limiter's own.
func (l *Limiter) Settings() Settings {
	return Settings{Rate: l.cfg.Rate, Burst: l.cfg.Burst, Reserve: l.cfg.Reserve}
}

// Announce stores the Limiter's settings beside the bucket (its key with
// ".settings"; nothing else reads it) and returns those it replaced, the
// replica's started before it, and whether there were any: a replica
// compares them with its own when it starts, to say that replicas
// disagree. The write is a compare-and-set on what was read (Create when
// there was nothing), read again when another replica wrote in between,
// so that of two replicas started together one at least is given the
// other's settings: read, then written, both could find nothing. At
// start only; rounds never read it.
func (l *Limiter) Announce(ctx context.Context) (found Settings, ok bool, err error) {
	return announce(ctx, l.kv, l.key, l.cfg.Timeout, l.Settings())
}

// AnnounceNone is Announce for a replica that keeps no budget (its rate
// 0: it takes no token, and calls the upstream as often as it likes): it
// stores the zero Settings beside the bucket kv holds at key, so that a
// replica started after it can say so too.
func AnnounceNone(ctx context.Context, kv jetstream.KeyValue, key string) (found Settings, ok bool, err error) {
	return announce(ctx, kv, key, 2*time.Second, Settings{})
}

// announce is Announce of own, each KV operation bounded by timeout.
func announce(ctx context.Context, kv jetstream.KeyValue, key string, timeout time.Duration, own Settings) (found Settings, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	value, _ := json.Marshal(own) // numbers: cannot fail
	prev, ok, err := bucket.Swap(ctx, kv, key+".settings", value, maxConflicts+1)
	if ok {
		ok = json.Unmarshal(prev, &found) == nil
	}
	if errors.Is(err, bucket.ErrSwapContended) {
		err = fmt.Errorf("%w: %w", err, ErrContended)
	}
	if err != nil {
		return found, ok, fmt.Errorf("ratelimit: %w", err)
	}
	return found, ok, nil
}
