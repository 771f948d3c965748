package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestThrottledCallPausesTheSharedBudget: an upstream 429 with Retry-After
// pauses the deployment's upstream budget (the bucket every replica takes
// its tokens from), for at most ISEED_RETRY_MAX_DELAY, not only the call
// that got it.
func TestThrottledCallPausesTheSharedBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	srv := natstest.Run(t)
	s, _, env := simFor(t, srv, sim.Config{Token: "pause-token", Step: time.Hour, Wallet: 1e6, Profile: pipetest.Profile(t),
		Faults: sim.Faults{Throttle: map[string]sim.ThrottleFault{"POST /richiesta": {Next: 1, RetryAfter: 3600}}}})
	const rps, maxDelay = 5, 20 * time.Second
	startDaemon(t, append(env, "ISEED_WORKERS=1", "ISEED_UPSTREAM_RPS=5", "ISEED_RETRY_MAX_DELAY="+maxDelay.String(), "ISEED_MAX_DELIVER=20000")...)
	ctx := context.Background()
	awaitLayout(t, srv)
	body, _ := iseeEvent("paused-1", "Nome Uno")
	if _, err := srv.JS.Publish(ctx, "iseed.submissions.acme", body); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the 429", func() bool { return s.Counters()["POST /richiesta"] >= 1 })
	kv, err := srv.JS.KeyValue(ctx, "iseed_ratelimit")
	if err != nil {
		t.Fatal(err)
	}
	var tokens float64
	waitUntil(t, 30*time.Second, "the shared budget in debt", func() bool {
		e, err := kv.Get(ctx, "upstream")
		if err != nil {
			return false
		}
		var st struct {
			Tokens float64 `json:"tokens"`
		}
		if json.Unmarshal(e.Value(), &st) != nil {
			return false
		}
		tokens = st.Tokens
		return tokens < 0
	})
	// Retry-After said an hour; the pause is ISEED_RETRY_MAX_DELAY: a debt
	// of rps × 20 s, less what refilled since it was written.
	if want := -rps * maxDelay.Seconds(); tokens > 0.8*want || tokens < want {
		t.Errorf("the budget holds %.1f tokens, want a debt of about %.0f (%v at %d calls/s)", tokens, want, maxDelay, rps)
	}
	if n := s.Counters()["POST /richiesta"]; n != 1 {
		t.Errorf("POST /richiesta called %d times during the pause, want 1 (the refused one)", n)
	}
}
