package ratelimit_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/ratelimit"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAnnounceReturnsTheLastStartedReplicasSettings: every replica refills
// and caps the shared bucket with its own Rate and Burst, and its polls
// leave its own Reserve, so replicas configured otherwise share a budget
// that is none of theirs. Each stores its settings beside the bucket when
// it starts (Announce), and learns those of the replica started before
// it, to say that they disagree.
func TestAnnounceReturnsTheLastStartedReplicasSettings(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	older := ratelimit.Config{Rate: 10, Burst: 10, Reserve: 2}
	newer := ratelimit.Config{Rate: 5, Burst: 8, Reserve: 3}
	settingsOf := func(c ratelimit.Config) ratelimit.Settings {
		return ratelimit.Settings{Rate: c.Rate, Burst: c.Burst, Reserve: c.Reserve}
	}
	for _, step := range []struct {
		name  string
		cfg   ratelimit.Config
		found bool
		want  ratelimit.Settings
	}{
		{"the first replica", older, false, ratelimit.Settings{}},
		{"a replica like it", older, true, settingsOf(older)},
		{"a replica configured otherwise", newer, true, settingsOf(older)},
		{"a replica like that one", newer, true, settingsOf(newer)},
	} {
		l := newLimiter(t, replicaKV(t, srv.ClientURL(), 1), step.cfg)
		got, found, err := l.Announce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if found != step.found || got != step.want {
			t.Errorf("%s: Announce found %+v (%t), want %+v (%t)", step.name, got, found, step.want, step.found)
		}
		if own := l.Settings(); own != settingsOf(step.cfg) {
			t.Errorf("%s: Settings %+v, want its own %+v", step.name, own, settingsOf(step.cfg))
		}
	}
}

// readTogether is a KV whose first read of a replica's settings returns
// only once every replica's first read has: replicas started together,
// each reading before any writes.
type readTogether struct {
	jetstream.KeyValue
	all  *sync.WaitGroup
	once sync.Once
}

func (kv *readTogether) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	e, err := kv.KeyValue.Get(ctx, key)
	if strings.HasSuffix(key, ".settings") {
		kv.once.Do(func() { kv.all.Done(); kv.all.Wait() })
	}
	return e, err
}

// TestAnnounceTellsOneOfTwoReplicasStartedTogether: two replicas started
// together, configured otherwise, both read the settings beside the
// bucket before either writes its own. Had each then written regardless,
// neither would have been told of the other, and neither would warn;
// one of them must be given the other's settings, whether the settings
// were there before (a restart) or not (a first start).
func TestAnnounceTellsOneOfTwoReplicasStartedTogether(t *testing.T) {
	ctx := context.Background()
	a := ratelimit.Config{Rate: 10, Burst: 10, Reserve: 2}
	b := ratelimit.Config{Rate: 5, Burst: 8, Reserve: 3}
	before := ratelimit.Config{Rate: 1, Burst: 4, Reserve: 1}
	settingsOf := func(c ratelimit.Config) ratelimit.Settings {
		return ratelimit.Settings{Rate: c.Rate, Burst: c.Burst, Reserve: c.Reserve}
	}
	for _, tc := range []struct {
		name   string
		before *ratelimit.Config // the last replica started before them, if any
	}{
		{"a first start", nil},
		{"a restart", &before},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Run(t)
			if tc.before != nil {
				if _, _, err := newLimiter(t, replicaKV(t, srv.ClientURL(), 1), *tc.before).Announce(ctx); err != nil {
					t.Fatal(err)
				}
			}
			var all sync.WaitGroup
			all.Add(2)
			type announced struct {
				found ratelimit.Settings
				ok    bool
				err   error
			}
			cfgs := []ratelimit.Config{a, b}
			got := make([]announced, len(cfgs))
			var wg sync.WaitGroup
			for i, cfg := range cfgs {
				l := newLimiter(t, &readTogether{KeyValue: replicaKV(t, srv.ClientURL(), 1), all: &all}, cfg)
				wg.Go(func() {
					var r announced
					r.found, r.ok, r.err = l.Announce(ctx)
					got[i] = r
				})
			}
			wg.Wait()
			told := 0
			for i, r := range got {
				if r.err != nil {
					t.Fatalf("replica %d: Announce: %v", i, r.err)
				}
				if r.ok && r.found == settingsOf(cfgs[1-i]) {
					told++
				}
			}
			if told != 1 {
				t.Errorf("replicas started together given the other's settings: got %d, want 1 (Announce found %+v)", told, got)
			}
		})
	}
}

// TestAnnounceManyReplicasStartedTogether: of replicas started at once,
// each is given the settings of another, except the first to write, and
// so one at least of those configured otherwise is told.
func TestAnnounceManyReplicasStartedTogether(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	cfgs := []ratelimit.Config{{Rate: 10, Burst: 10, Reserve: 2}, {Rate: 5, Burst: 8, Reserve: 3}}
	const replicas = 8
	limiters := make([]*ratelimit.Limiter, replicas)
	for i := range limiters {
		limiters[i] = newLimiter(t, replicaKV(t, srv.ClientURL(), 1), cfgs[i%len(cfgs)])
	}
	var start, wg sync.WaitGroup
	start.Add(1)
	var mu sync.Mutex
	var nothing, differ int
	for _, l := range limiters {
		wg.Go(func() {
			start.Wait()
			found, ok, err := l.Announce(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("Announce: %v", err)
			case !ok:
				nothing++
			case found != l.Settings():
				differ++
			}
		})
	}
	start.Done()
	wg.Wait()
	if nothing != 1 || differ == 0 {
		t.Errorf("of %d replicas started together, configured two ways: got %d that found nothing, %d told of other settings; want 1, at least 1",
			replicas, nothing, differ)
	}
}
