package natstest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go"
)

// TestAsyncErrorsReportsASlowConsumer: a channel subscription whose channel
// is full drops messages, and AsyncErrors is where a failing test can see it.
func TestAsyncErrorsReportsASlowConsumer(t *testing.T) {
	s := natstest.Run(t)
	if n, _ := s.AsyncErrors(); n != 0 {
		t.Fatalf("async errors before anything: got %d, want 0", n)
	}
	ch := make(chan *nats.Msg, 1)
	sub, err := s.NC.ChanSubscribe("slow", ch)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for range 3 {
		if err := s.NC.Publish("slow", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, last := s.AsyncErrors()
		if n > 0 {
			if !strings.Contains(last, "slow consumer") || !strings.Contains(last, "on slow") {
				t.Errorf("last async error: got %q, want a slow consumer on subject slow", last)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the slow consumer to be reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
