package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/rs/zerolog"
)

// TestReplicasStartTogether starts two daemons at once on a fresh
// three-node cluster with ISEED_REPLICAS=3, as a Deployment of two replicas
// does (issue 13): both must come up, whichever creates what first, and
// without waiting out lost JetStream API answers. A lost answer is a call
// that times out after the JetStream API timeout (5 s), retried by the
// start (layout.ensureStream says which calls crossing each other lost
// theirs): the test looks for that retry in the daemons' logs rather than
// bound their start by a time, which a loaded machine (CI beside other
// work) passed for no fault of theirs.
func TestReplicasStartTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	t.Setenv("ISEED_NATS_URL", strings.Join(natstest.RunCluster(t), ","))
	t.Setenv("ISEED_REPLICAS", "3")
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	// No deadline on ctx (see ensureLayout): the test bounds the wait itself.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	took := make([]time.Duration, 2)
	dirs := []string{t.TempDir(), t.TempDir()}
	logs := &pipetest.Buffer{}
	log := zerolog.New(io.MultiWriter(logs, zerolog.NewTestWriter(t))).Level(zerolog.WarnLevel)
	for i := range errs {
		wg.Go(func() {
			c := *cfg
			c.DataDir = dirs[i] // a replica's own, as each pod's
			start := time.Now()
			d, err := newDaemon(ctx, &c, log)
			took[i], errs[i] = time.Since(start), err
			if err == nil {
				d.close()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cancel()
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: got %v after %s, want it up", i, err, took[i].Round(time.Millisecond))
		} else if _, err := os.Stat(filepath.Join(dirs[i], recordsMarkFile)); err != nil {
			t.Errorf("replica %d did not record the records bucket: %v", i, err)
		}
	}
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "not ready") && (strings.Contains(line, "timeout") || strings.Contains(line, "deadline exceeded")) {
			t.Errorf("a JetStream API answer was lost, waited out and the step retried (up after %s and %s): %s",
				took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), strings.TrimSpace(line))
		}
	}
}
