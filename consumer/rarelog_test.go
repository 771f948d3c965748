package consumer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// TestForgedReplayHeadersDoNotSilenceOtherWarnings: any tenant can publish
// messages with a replay header iseed did not sign, as many as it likes;
// their warnings are sampled, and must not use up the lines another
// tenant's trouble needs: here a paid request whose index write has to be
// retried.
func TestForgedReplayHeadersDoNotSilenceOtherWarnings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idx := &indexRefusingOnce{KeyValue: h.Res.Requests}
	res := *h.Res
	res.Requests = idx
	var logs pipetest.Buffer
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Resources = &res }),
		pipetest.WithConfig(func(c *consumer.Config) { c.Logger = zerolog.New(&logs) }))
	const forged = "replay header that is not signed"
	for i := range 5 {
		h.Publish([]byte(`{"id":"forged-`+string(rune('a'+i))+`"}`), nats.Header{dlq.ReplayHeader: {"1:AAAA"}})
	}
	pipetest.WaitFor(t, 10*time.Second, "the forged messages dead-lettered", func() bool { return len(h.DeadLetters()) == 5 })
	if n := strings.Count(logs.String(), forged); n == 0 {
		t.Fatalf("log: no warning of a forged replay header (%q)", forged)
	}
	idx.armed.Store(true)
	other := pipetest.Submission("emp-other", pipetest.ValidFields("Luigi"))
	h.publishAs("globex", other, msgIDOf("globex", other))
	pipetest.WaitFor(t, 10*time.Second, "globex's submission", func() bool {
		r, _, err := record.NewStore(h.Res.Records).Get(t.Context(), "globex", "emp-other")
		return err == nil && r.State == record.StateSubmitted
	})
	if !idx.fired.Load() {
		t.Fatal("the request index refused nothing")
	}
	if want := "the request index cannot be written yet"; !strings.Contains(logs.String(), want) {
		t.Errorf("log: got no %q warning after %d forged replay headers were logged; want it logged", want, strings.Count(logs.String(), forged))
	}
}
