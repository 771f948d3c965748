package record_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// TestLanded: a write whose answer was lost counts as stored only when the
// leader's latest entry of the key is the record exactly as written, and
// then with that entry's revision; a record changed since, one that was
// never written (even with the same lease) and a bucket that cannot be
// read are not.
func TestLanded(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "records", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	s := record.NewStore(kv)
	now := time.Now()
	lease := &record.Attempt{Started: now, Owner: "w/1", Until: now.Add(time.Minute)}
	claimed := &record.Record{Tenant: "acme", ID: "emp-1", Generation: 1, State: record.StateClaimed, Attempts: 1, Pending: lease}
	rev1, err := s.Create(ctx, claimed)
	if err != nil {
		t.Fatal(err)
	}
	renewed := *claimed // the same owner's longer lease, never written
	renewed.Pending = &record.Attempt{Started: now, Owner: "w/1", Until: now.Add(2 * time.Minute)}
	latest := &record.Record{Tenant: "acme", ID: "emp-2", Generation: 1, State: record.StateClaimed, Attempts: 1, Pending: lease}
	if _, err := s.Create(ctx, latest); err != nil {
		t.Fatal(err)
	}
	next := *latest
	next.Attempts = 2
	rev2, err := s.Update(ctx, &next, mustRev(t, s, "emp-2"))
	if err != nil {
		t.Fatal(err)
	}
	never := &record.Record{Tenant: "acme", ID: "emp-3", Generation: 1, State: record.StateClaimed}
	tests := []struct {
		name   string
		r      *record.Record
		rev    uint64
		landed bool
	}{
		{"created", claimed, rev1, true},
		{"updated", &next, rev2, true},
		{"overwritten since", latest, 0, false},
		{"another write of the same lease holder", &renewed, 0, false},
		{"never written", never, 0, false},
	}
	for _, tt := range tests {
		rev, landed, err := s.Landed(ctx, srv.JS, tt.r)
		if rev != tt.rev || landed != tt.landed || err != nil {
			t.Errorf("%s: got revision %d, landed %v, error %v; want %d, %v, no error", tt.name, rev, landed, err, tt.rev, tt.landed)
		}
	}
	other, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.JS.DeleteKeyValue(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, landed, err := record.NewStore(other).Landed(ctx, srv.JS, claimed); err == nil || landed {
		t.Errorf("a bucket that cannot be read: got landed %v, error %v; want an error", landed, err)
	}
}

func mustRev(t *testing.T, s *record.Store, id string) uint64 {
	t.Helper()
	_, rev, err := s.Get(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}
