package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestServeSurvivesAHoldsWatchThatCannotStart: the first request to watch
// the holds bucket gets no answer (a JetStream leader election, a server
// restarting): serve must go on and watch again, not stop the daemon on a
// transient NATS error.
func TestServeSurvivesAHoldsWatchThatCannotStart(t *testing.T) {
	srv := natstest.Run(t)
	proxy := natstest.NewDropProxy(t, srv.Addr().String())
	var watches atomic.Int64
	proxy.Drop = func(subject string) bool {
		return strings.HasPrefix(subject, "$JS.API.CONSUMER.CREATE.KV_iseed_holds.") && watches.Add(1) == 1
	}
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_NATS_URL", proxy.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr pipetest.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), &stdout, &stderr) }()
	deadline := time.After(60 * time.Second)
	for watches.Load() < 2 {
		select {
		case err := <-done:
			t.Fatalf("serve stopped after the holds watch got no answer: exit %d (%v); want it running, watching again\n%s",
				exitCode(err), err, stderr.String())
		case <-deadline:
			t.Fatalf("no second try to watch the holds bucket 60 s after the first (%d tries)\n%s", watches.Load(), stderr.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
	cancel() // what SIGTERM does
	select {
	case err := <-done:
		if code := exitCode(err); code != 0 {
			t.Errorf("exit %d (%v) on a signal; want 0", code, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after the signal")
	}
}
