package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// A delivery that reserved and stopped before its POST (the wallet empty,
// a shutdown) leaves its reservation for the next delivery. When that one
// ends the submission without sending it, rejected because today's schema
// no longer accepts it or expired while the schema cannot be read, the
// reservation goes back: it was counted against the caps until its day
// ended.
func TestLeftReservationGoesBackWhenNothingIsSent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fields func() map[string]any
		opts   []pipetest.Option
		state  string
		reason string
		bucket bool // the tenant's files bucket is made (empty)
	}{
		{"rejected: today's schema refuses it", func() map[string]any {
			f := pipetest.ValidFields("Mario")
			delete(f, "$6") // required
			return f
		}, nil, record.StateRejected, "", false},
		{"rejected: a file it refers to is gone", func() map[string]any {
			f := pipetest.ValidFields("Mario")
			f["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_acme/7781/carta.pdf"
			return f
		}, nil, record.StateRejected, "", true},
		{"expired while the schema cannot be read", func() map[string]any { return pipetest.ValidFields("Mario") },
			[]pipetest.Option{pipetest.WithSchemas(flakySchemas{}), pipetest.WithConfig(func(c *consumer.Config) { c.MaxAge = time.Nanosecond })},
			record.StateFailed, dlq.ReasonExpired, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ctx := context.Background()
			b := h.budgetsCapped(budget.Caps{DailyEUR: 100_000})
			if tt.bucket {
				if _, err := h.NATS.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "iseed_files_acme"}); err != nil {
					t.Fatal(err)
				}
			}
			data := pipetest.Submission("emp-left", tt.fields())
			sub, err := consumer.DecodeSubmission(data)
			if err != nil {
				t.Fatal(err)
			}
			// What the earlier delivery left: its reservation, and a claim
			// whose lease ended saying nothing was sent.
			price, _ := money.FromFloat(12)
			if _, err := b.Reserve(ctx, pipetest.Tenant, "emp-left", price, time.Now()); err != nil {
				t.Fatal(err)
			}
			past := time.Now().Add(-time.Minute)
			rec := &record.Record{Tenant: pipetest.Tenant, ID: "emp-left", Fingerprint: sub.Fingerprint(), Generation: 1,
				State: record.StateClaimed, Attempts: 1, Created: past, Updated: past,
				Pending: &record.Attempt{Started: past, Owner: "stopped", Until: past.Add(time.Second), Unsent: true}}
			raw, _ := json.Marshal(rec)
			if _, err := h.Res.Records.Create(ctx, record.Key(pipetest.Tenant, "emp-left"), raw); err != nil {
				t.Fatal(err)
			}
			h.Start(append([]pipetest.Option{h.withMoney(b)}, tt.opts...)...)
			h.Publish(data, nil)
			r := h.WaitState("emp-left", tt.state)
			if r.Reason != tt.reason || r.RequestID != "" {
				t.Fatalf("record: reason %q, request %q; want %q, none", r.Reason, r.RequestID, tt.reason)
			}
			if got := h.Counter("POST /richiesta"); got != 0 {
				t.Errorf("POSTs: got %d, want 0", got)
			}
			pipetest.WaitFor(t, 10*time.Second, "the reservation given back", func() bool {
				_, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-left", time.Now())
				return err == nil && !held
			})
		})
	}
}
