package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestMaxDeliveriesAdvisoryOfAStreamMadeAnew: an advisory names the
// message that ran out of deliveries by its sequence in the submissions
// stream alone, and advisories are kept in a stream of their own. When
// the submissions stream is deleted and made anew (iseed serve makes it
// at start) before the advisory is handled, it numbers its messages from
// 1 again, and the message now at that sequence, stored after the
// advisory, is another submission, maybe another tenant's: it must not be
// dead-lettered and announced failed for the one that ran out.
func TestMaxDeliveriesAdvisoryOfAStreamMadeAnew(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	l := h.Res.Layout
	h.Publish(pipetest.Submission("emp-old", pipetest.ValidFields("Mario")), nil)
	subject := fmt.Sprintf("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.%s", l.SubmissionsStream(), l.Durable())
	adv := fmt.Sprintf(`{"stream":%q,"consumer":%q,"stream_seq":1,"deliveries":1000}`, l.SubmissionsStream(), l.Durable())
	if _, err := h.NATS.JS.Publish(ctx, subject, []byte(adv)); err != nil {
		t.Fatal(err)
	}
	if err := h.NATS.JS.DeleteStream(ctx, l.SubmissionsStream()); err != nil {
		t.Fatal(err)
	}
	h.withMaxDeliver(1000) // made again, as the default's (iseed serve's start)
	// The submission now at sequence 1 cannot be sent (its service cannot
	// be resolved): it stays without a record, as the old one did.
	h.Publish(pipetest.Submission("emp-new", pipetest.ValidFields("Luigi")), nil)
	h.Start(pipetest.WithSchemas(flakySchemas{}), pipetest.WithConfig(func(c *consumer.Config) {
		c.Retry = consumer.RetryPolicy{MinDelay: 50 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
	}))
	pipetest.WaitFor(t, 20*time.Second, "the advisory handled (acknowledged)", func() bool {
		c, err := h.NATS.JS.Consumer(ctx, l.AdvisoriesStream(), l.AdvisoriesDurable())
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream == 1
	})
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters %+v; want none: emp-new did not run out of deliveries", dls)
	}
	if evs := h.EventTypes("emp-new"); len(evs) != 0 {
		t.Errorf("events about emp-new %v; want none", evs)
	}
}
