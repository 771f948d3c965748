package consumer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// TestHeldReleaseSendsOnlyItsOwnMessage: a hold names its message by its
// sequence in the submissions stream. The stream deleted and made anew
// (iseed serve makes it at start) numbers its messages from 1 again, and
// the holds bucket keeps the old sequences: another tenant's submission
// now sits at the held one's. The release once sent that message, whatever
// it was, on the held tenant's subject: acme got a rejected event about
// globex's submission, naming its id and the start of its fingerprint
// (the message id that globex alone could compute), and the dead letter
// filed globex's employee's data under acme, a replay away from being sent
// and paid as acme's. A message at the held sequence that is not the held
// submission's is taken for gone: nothing is sent, and the hold waits to
// fail expired as one whose message left the stream.
func TestHeldReleaseSendsOnlyItsOwnMessage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	var logs pipetest.Buffer
	opts := []pipetest.Option{h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.Logger = zerolog.New(&logs)
	})}
	stop := h.Start(opts...)
	h.Publish(pipetest.Submission("emp-held", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-held", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	stop()

	if err := h.NATS.JS.DeleteStream(ctx, h.Res.Layout.SubmissionsStream()); err != nil {
		t.Fatal(err)
	}
	res, err := layout.Ensure(ctx, h.NATS.JS, h.Layout)
	if err != nil {
		t.Fatal(err)
	}
	h.Res = res
	m := nats.NewMsg(h.Res.Layout.SubmissionSubject("globex"))
	m.Data = pipetest.Submission("emp-other", pipetest.ValidFields("Luigi"))
	m.Header.Set("Nats-Msg-Id", msgIDOf("globex", m.Data))
	ack, err := h.NATS.JS.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Sequence != 1 {
		t.Fatalf("globex's message has sequence %d in the new stream, want 1, the held one's", ack.Sequence)
	}
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	h.Start(opts...)

	const gone = "held submission cannot be released"
	pipetest.WaitExplained(t, 15*time.Second, "the hold's release to be decided", func() bool {
		return strings.Contains(logs.String(), gone) || len(h.Events("emp-other")) > 0
	}, func() string { return fmt.Sprintf("acme's events about emp-other: %v", h.EventTypes("emp-other")) })
	if evs := h.Events("emp-other"); len(evs) > 0 {
		t.Errorf("acme got events about globex's submission emp-other: %s %s", evs[0].Type, evs[0].Data)
	}
	for _, dl := range h.DeadLetters() {
		if dl.Tenant == pipetest.Tenant && dl.SubmissionID == "emp-other" {
			t.Errorf("a dead letter files globex's message under acme: %+v", dl)
		}
	}
	if r := h.Record("emp-held"); r.State != record.StateHeld || r.Attempts != 0 {
		t.Errorf("emp-held: state %s, %d attempts; want still held, nothing sent", r.State, r.Attempts)
	}
}
