package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/ledger"
)

// TestEntriesRideOutNoResponders: a fetch answered "no responders" is
// tried again; three in a row still end the read with the error.
func TestEntriesRideOutNoResponders(t *testing.T) {
	for _, tt := range []struct {
		name    string
		fail    func(n int64) bool
		wantErr bool
	}{
		{"the first fetch", func(n int64) bool { return n == 1 }, false},
		{"the first two", func(n int64) bool { return n <= 2 }, false},
		{"every fetch", func(int64) bool { return true }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, srv := newLedger(t)
			at := time.Now().UTC().Truncate(time.Second)
			record(t, l, entry("acme", "r1", at), entry("acme", "r2", at))
			st, err := srv.JS.Stream(context.Background(), ledger.StreamConfig(prefix, 1, jetstream.FileStorage, 0).Name)
			if err != nil {
				t.Fatal(err)
			}
			flaky := ledger.New(srv.JS, natstest.NewNoResponders(st, tt.fail), ledger.Config{Prefix: prefix})
			got, err := flaky.Entries(context.Background(), at.Add(-time.Hour), at.Add(time.Hour), "")
			if tt.wantErr {
				if err == nil {
					t.Errorf("Entries: got %v and no error, want an error", ids(got))
				}
				return
			}
			if err != nil || len(got) != 2 {
				t.Errorf("Entries: got %v, error %v; want [r1 r2]", ids(got), err)
			}
		})
	}
}
