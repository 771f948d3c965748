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

// TestEntriesOfAStreamDeletedMeanwhile: a ledger stream deleted once
// Entries has begun (an operator's mistake, a layout being remade) ends
// the read with an error. Its ordered consumer makes a consumer anew for
// each fetch, and by default tries that for ever, whatever ctx says:
// Entries (iseed spend, top, audit) never returned.
func TestEntriesOfAStreamDeletedMeanwhile(t *testing.T) {
	l, srv := newLedger(t)
	at := time.Now().UTC().Truncate(time.Second)
	record(t, l, entry("acme", "r1", at))
	name := ledger.StreamConfig(prefix, 1, jetstream.FileStorage, 0).Name
	st, err := srv.JS.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	deleting := ledger.New(srv.JS, natstest.NewNoResponders(st, func(n int64) bool {
		if n == 1 { // once the read has begun, before its first fetch
			if err := srv.JS.DeleteStream(context.Background(), name); err != nil {
				t.Errorf("delete the stream: %v", err)
			}
		}
		return false
	}), ledger.Config{Prefix: prefix})
	done := make(chan error, 1)
	go func() {
		_, err := deleting.Entries(context.Background(), at.Add(-time.Hour), at.Add(time.Hour), "")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Entries of a stream deleted meanwhile: got no error, want one")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Entries of a stream deleted meanwhile has not returned in 30 s")
	}
}

// TestEntriesLeaveNoConsumer: Entries deletes the consumer it read with.
// It deleted the one its ordered consumer was made with, which the first
// fetch replaces: the one that fetched stayed five minutes, one more for
// every iseed top, spend or audit.
func TestEntriesLeaveNoConsumer(t *testing.T) {
	l, srv := newLedger(t)
	at := time.Now().UTC().Truncate(time.Second)
	record(t, l, entry("acme", "r1", at), entry("acme", "r2", at))
	if got, err := l.Entries(context.Background(), at.Add(-time.Hour), at.Add(time.Hour), ""); err != nil || len(got) != 2 {
		t.Fatalf("Entries: got %v, %v; want [r1 r2]", ids(got), err)
	}
	name := ledger.StreamConfig(prefix, 1, jetstream.FileStorage, 0).Name
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := srv.JS.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if n := info.CachedInfo().State.Consumers; n == 0 {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("the ledger stream's consumers 10 s after Entries: got %d, want 0", n)
		}
	}
}
