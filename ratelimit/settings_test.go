package ratelimit_test

import (
	"context"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/ratelimit"
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
