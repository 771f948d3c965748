package layout

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
)

// TestEnsureChangesTheRetentionOfReplicatedStreams: a start with another
// Retention or DLQRetention (ISEED_RETENTION, ISEED_DLQ_RETENTION) changes
// how long the existing streams of a three-node cluster keep messages,
// shorter or longer, and keeps them replicated.
func TestEnsureChangesTheRetentionOfReplicatedStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	nc, js := natstest.Connect(t, strings.Join(natstest.RunCluster(t), ","))
	defer nc.Close()
	ctx := context.Background()
	for _, step := range []struct {
		name           string
		retention, dlq time.Duration
	}{
		{"made", 500 * time.Hour, 1000 * time.Hour},
		{"shortened", 200 * time.Hour, 300 * time.Hour},
		{"lengthened", 900 * time.Hour, 1800 * time.Hour},
	} {
		l := Layout{Replicas: 3, Retention: step.retention, DLQRetention: step.dlq}
		if _, err := Ensure(ctx, js, l); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		l = l.WithDefaults()
		want := map[string]time.Duration{l.SubmissionsStream(): step.retention, l.EventsStream(): step.retention,
			l.DLQStream(): step.dlq, l.AdvisoriesStream(): step.dlq}
		for name, maxAge := range want {
			st, err := js.Stream(ctx, name)
			if err != nil {
				t.Fatalf("%s: stream %s: %v", step.name, name, err)
			}
			cfg := st.CachedInfo().Config
			if cfg.MaxAge != maxAge || cfg.Replicas != 3 {
				t.Errorf("%s: %s keeps messages %s on %d replicas, want %s on 3", step.name, name, cfg.MaxAge, cfg.Replicas, maxAge)
			}
		}
	}
}
