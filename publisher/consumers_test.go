package publisher_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTenantConsumersMadeBeforeTheFirstEvent: tenants may not create
// consumers in iseed's account (docs/security.md), so the publisher makes
// each tenant's two durable pull consumers before the tenant's first
// event; they deliver that event, and only the tenant's. A push consumer
// under one of the names (one a tenant made before) is replaced by a pull
// consumer; a pull consumer an operator tuned is kept as it is.
func TestTenantConsumersMadeBeforeTheFirstEvent(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	if _, err := srv.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "ISEED_EVENTS",
		Subjects: []string{"iseed.status.*.*", "iseed.documents.*.*"}}); err != nil {
		t.Fatal(err)
	}
	// globex made a push consumer under its status name when it could;
	// acme's documents consumer was tuned by an operator.
	if _, err := srv.JS.CreateConsumer(ctx, "ISEED_EVENTS", jetstream.ConsumerConfig{Durable: "globex-status",
		DeliverSubject: "$JS.API.CONSUMER.MSG.NEXT.ISEED_SUBMISSIONS.submitter", FilterSubject: "iseed.status.globex.>"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.JS.CreateConsumer(ctx, "ISEED_EVENTS", jetstream.ConsumerConfig{Durable: "acme-documents",
		FilterSubject: "iseed.documents.acme.>", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}

	p := publisher.New(srv.JS, publisher.Config{EventsStream: "ISEED_EVENTS"})
	for _, tenant := range []string{"acme", "globex"} {
		if err := p.Status(ctx, publisher.Status{SubmissionID: "s1", Tenant: tenant, State: publisher.StateSubmitted, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.DocumentReady(ctx, publisher.DocumentReady{SubmissionID: "s1", Tenant: "acme", Object: "o", Bucket: "b", SHA256: "00", At: at}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, filter string
		ackWait      time.Duration
		events       int
	}{
		{"acme-status", "iseed.status.acme.>", 30 * time.Second, 1},
		{"acme-documents", "iseed.documents.acme.>", 5 * time.Minute, 1},
		{"globex-status", "iseed.status.globex.>", 30 * time.Second, 1},
		{"globex-documents", "iseed.documents.globex.>", 30 * time.Second, 0},
	} {
		c, err := srv.JS.Consumer(ctx, "ISEED_EVENTS", tc.name)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		info := c.CachedInfo()
		if cfg := info.Config; cfg.DeliverSubject != "" || cfg.FilterSubject != tc.filter || cfg.AckPolicy != jetstream.AckExplicitPolicy || cfg.AckWait != tc.ackWait {
			t.Errorf("%s: deliver subject %q, filter %q, ack %v, ack wait %v; want a pull consumer of %s, explicit acks, ack wait %v",
				tc.name, cfg.DeliverSubject, cfg.FilterSubject, cfg.AckPolicy, cfg.AckWait, tc.filter, tc.ackWait)
		}
		if got := int(info.NumPending); got != tc.events {
			t.Errorf("%s: %d events pending, want %d", tc.name, got, tc.events)
		}
	}
}

// TestTenantConsumersOnlyWhenAsked: without an events stream in its
// configuration (tests, the benchmark's plain pipeline) the publisher makes
// no consumer.
func TestTenantConsumersOnlyWhenAsked(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	st, err := srv.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "ISEED_EVENTS", Subjects: []string{"iseed.status.*.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := publisher.New(srv.JS, publisher.Config{}).Status(ctx, publisher.Status{SubmissionID: "s1", Tenant: "acme", State: publisher.StateSubmitted, At: at}); err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Errorf("consumers on the events stream: %d, want 0", info.State.Consumers)
	}
}

// TestTenantConsumersComeBackWithTheEventsStream: an events stream deleted
// and made anew while iseed runs has none of the tenants' consumers, and
// tenants may not make them. A publish that finds no stream makes the
// publisher look again at each tenant's next event; a stream made anew
// between two events is seen at the first event after Recheck. Either way
// the consumers deliver the new stream's events from its start.
func TestTenantConsumersComeBackWithTheEventsStream(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recheck   time.Duration
		whileGone bool // an event published while the stream is gone
	}{
		{"a publish found no stream", time.Hour, true},
		{"made anew between two events", time.Nanosecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Run(t)
			srv.KeepStreamsDir(t) // the stream is the account's only one
			ctx := context.Background()
			cfg := jetstream.StreamConfig{Name: "ISEED_EVENTS", Subjects: []string{"iseed.status.*.*", "iseed.documents.*.*"}}
			if _, err := srv.JS.CreateStream(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			p := publisher.New(srv.JS, publisher.Config{EventsStream: "ISEED_EVENTS", Recheck: tc.recheck})
			status := func(id string) error {
				return p.Status(ctx, publisher.Status{SubmissionID: id, Tenant: "acme", State: publisher.StateSubmitted, At: at})
			}
			if err := status("s1"); err != nil {
				t.Fatal(err)
			}
			if err := srv.JS.DeleteStream(ctx, "ISEED_EVENTS"); err != nil {
				t.Fatal(err)
			}
			if tc.whileGone {
				if err := status("s2"); err == nil {
					t.Fatal("an event published with no events stream")
				}
			}
			if _, err := srv.JS.CreateStream(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if err := status("s3"); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"acme-status", "acme-documents"} {
				c, err := srv.JS.Consumer(ctx, "ISEED_EVENTS", name)
				if err != nil {
					t.Errorf("%s after the stream was made anew: %v", name, err)
					continue
				}
				// What it delivers, waiting for the one event the status
				// consumer has: its pending count, which a fetch without a
				// wait goes by, may not count an event stored as it was
				// made (nats-server 2.15.2).
				want := map[string]int{"acme-status": 1, "acme-documents": 0}[name]
				fetch := func() (jetstream.MessageBatch, error) { return c.FetchNoWait(1) }
				if want > 0 {
					fetch = func() (jetstream.MessageBatch, error) { return c.Fetch(want, jetstream.FetchMaxWait(5*time.Second)) }
				}
				batch, err := fetch()
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for m := range batch.Messages() {
					got = append(got, m.Subject())
				}
				if len(got) != want {
					t.Errorf("%s delivered %v, want %d event(s)", name, got, want)
				}
			}
		})
	}
}
