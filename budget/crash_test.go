package budget

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// TestCrashBetweenScopes: a process that died after counting the tenant
// and before counting the account leaves the reservation held by the
// tenant only; the redelivery's Reserve completes it, counting each scope
// once.
func TestCrashBetweenScopes(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	caps, usageKV, err := EnsureBuckets(ctx, srv.JS, "c", "u", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(caps, usageKV, Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	r := Reservation{Tenant: "acme", SubmissionID: "s1", Amount: 1170, Day: "2026-03-05"}
	if _, err := b.count(ctx, Tenant("acme"), r, Caps{}); err != nil { // then the crash
		t.Fatal(err)
	}
	got, err := b.Reserve(ctx, "acme", "s1", 1170, now)
	if err != nil || got != r {
		t.Fatalf("Reserve after the crash: got %+v, %v; want %+v", got, err, r)
	}
	for _, s := range []Scope{Tenant("acme"), Account()} {
		_, m, err := b.Usage(ctx, s, now)
		if err != nil || m.Requests != 1 || m.Spent != 1170 || m.Held != 1 {
			t.Errorf("%s: got %+v, %v; want one request of 11.70 held", s, m, err)
		}
	}
}
