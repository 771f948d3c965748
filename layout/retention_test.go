package layout

import (
	"context"
	"fmt"
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

// TestEnsureReportsAnotherReplicasRetention: every replica sets the four
// streams' MaxAge to its own Retention and DLQRetention when it starts, and
// the last started wins (a shorter one deletes the older messages at once).
// Ensure says when it found another MaxAge (a replica configured
// otherwise), stream by stream, so that the daemon can warn; it reports
// nothing when the streams are new or already have this replica's.
func TestEnsureReportsAnotherReplicasRetention(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	older := Layout{Retention: 500 * time.Hour, DLQRetention: 1000 * time.Hour}
	newer := Layout{Retention: 200 * time.Hour, DLQRetention: 300 * time.Hour}
	n := older.WithDefaults()
	want := []RetentionChange{
		{Setting: "ISEED_RETENTION", Stream: n.SubmissionsStream(), From: 500 * time.Hour, To: 200 * time.Hour},
		{Setting: "ISEED_RETENTION", Stream: n.EventsStream(), From: 500 * time.Hour, To: 200 * time.Hour},
		{Setting: "ISEED_DLQ_RETENTION", Stream: n.DLQStream(), From: 1000 * time.Hour, To: 300 * time.Hour},
		{Setting: "ISEED_DLQ_RETENTION", Stream: n.AdvisoriesStream(), From: 1000 * time.Hour, To: 300 * time.Hour},
	}
	quota := newer
	quota.TenantMaxSubmissions = 5 // the submissions stream found another for this reason
	for _, step := range []struct {
		name string
		l    Layout
		want []RetentionChange
	}{
		{"the first replica", older, nil},
		{"a replica like it", older, nil},
		{"a replica with shorter retentions", newer, want},
		{"a replica like that one", newer, nil},
		{"a replica like that one with a quota", quota, nil},
	} {
		res, err := Ensure(ctx, srv.JS, step.l)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(res.RetentionsChanged) != fmt.Sprint(step.want) {
			t.Errorf("%s: RetentionsChanged %+v, want %+v", step.name, res.RetentionsChanged, step.want)
		}
	}
}
