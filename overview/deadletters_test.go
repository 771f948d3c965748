package overview

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/rs/zerolog"
)

// TestDeadLettersFollowANewStream: a DLQ stream deleted and made anew (an
// operator clearing it, and layout.Ensure at a replica's start making it
// again) numbers its dead letters from 1 again. The counts are the new
// stream's: the old stream's dead letters are gone, and the new ones count
// even where their sequences are ones the old stream had counted already.
func TestDeadLettersFollowANewStream(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	publish := func(reason string) {
		t.Helper()
		n++
		dl := dlq.DeadLetter{Tenant: "acme", SubmissionID: fmt.Sprintf("emp-%d", n), Reason: reason}
		if err := dlq.Publish(ctx, srv.JS, res.Layout, dl, []byte(`{}`), fmt.Sprintf("dl-%d", n)); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		publish(dlq.ReasonInvalid)
	}
	d := NewDeadLetters(res.DLQ, zerolog.New(zerolog.NewTestWriter(t)))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitReady(t, d.Ready())
	waitFor(t, "the old stream's 5 dead letters", func() bool {
		return maps.Equal(d.Counts(), map[string]int{dlq.ReasonInvalid: 5})
	})

	if err := srv.JS.DeleteStream(ctx, res.Layout.DLQStream()); err != nil {
		t.Fatal(err)
	}
	if res, err = layout.Ensure(ctx, srv.JS, layout.Layout{}); err != nil {
		t.Fatal(err)
	}
	publish(dlq.ReasonExpired)
	publish(dlq.ReasonExpired)

	want := map[string]int{dlq.ReasonExpired: 2}
	var got map[string]int
	if !within(20*time.Second, func() bool {
		if err := d.Sync(ctx); err != nil {
			t.Log(err)
		}
		got = d.Counts()
		return maps.Equal(got, want)
	}) {
		t.Fatalf("dead letters after the stream was made anew: got %v, want %v", got, want)
	}
}

// within polls cond until it holds or d has passed; it reports whether it
// held.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
