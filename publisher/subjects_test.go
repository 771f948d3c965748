package publisher_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

// eventsThrough makes an events stream holding three events of acme/s1
// and one of acme/s2, and connects to it through a proxy whose Drop is
// drop, called with the number of each pull request the stream's
// consumers send (1 for the first).
func eventsThrough(t *testing.T, drop func(pull int64) bool) (jetstream.JetStream, *atomic.Int64) {
	t.Helper()
	return eventsOn(t, natstest.Run(t), drop)
}

// eventsOn is eventsThrough on srv.
func eventsOn(t *testing.T, srv *natstest.Server, drop func(pull int64) bool) (jetstream.JetStream, *atomic.Int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := srv.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"iseed.status.>", "iseed.documents.>"}}); err != nil {
		t.Fatal(err)
	}
	s := publisher.SubjectsFor("")
	for i, subject := range []string{s.Status("acme", "s1"), s.Status("acme", "s2"), s.Document("acme", "s1"), s.Status("acme", "s1")} {
		if _, err := srv.JS.Publish(ctx, subject, fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	proxy := natstest.NewDropProxy(t, srv.Addr().String())
	pulls := new(atomic.Int64)
	proxy.Drop = func(subject string) bool {
		return strings.HasPrefix(subject, "$JS.API.CONSUMER.MSG.NEXT.EV.") && drop(pulls.Add(1))
	}
	nc, js := natstest.Connect(t, proxy.URL)
	t.Cleanup(nc.Close)
	return js, pulls
}

// TestReadEventsSaysWhenItStopsShort: a fetch that fails while events
// remain to be read is an error saying the list is incomplete, not the
// end of the list: the console and 'iseed status' showed a partial
// timeline as the whole one. A single lost fetch is tried again.
func TestReadEventsSaysWhenItStopsShort(t *testing.T) {
	s := publisher.SubjectsFor("")
	for _, tt := range []struct {
		name string
		drop func(pull int64) bool
	}{
		{"one fetch lost", func(pull int64) bool { return pull == 2 }},
		{"every fetch after the first lost", func(pull int64) bool { return pull >= 2 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			js, _ := eventsThrough(t, tt.drop)
			got, err := publisher.ReadEvents(context.Background(), js, "EV", s, "acme", "s1")
			if err == nil && len(got) != 3 {
				t.Fatalf("ReadEvents: got %d events (%s) and no error, want all 3 or an error", len(got), got)
			}
			if err != nil && !strings.Contains(err.Error(), "incomplete") {
				t.Errorf("ReadEvents: got error %q, want one saying the list is incomplete", err)
			}
			t.Logf("%d events, error %v", len(got), err)
		})
	}
}

// TestReadEventsStopsWhenItsContextIsDone: ReadEvents reads no further
// event once its context is done, and says so; the fetches wait on their
// own, not on the context.
func TestReadEventsStopsWhenItsContextIsDone(t *testing.T) {
	publisher.SetEventsBatch(t, 1) // a fetch an event
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	js, _ := eventsThrough(t, func(pull int64) bool {
		if pull == 2 {
			cancel() // the caller goes away (a page's deadline) while the second is fetched
		}
		return false
	})
	got, err := publisher.ReadEvents(ctx, js, "EV", publisher.SubjectsFor(""), "acme", "s1")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ReadEvents whose context ended after the first event: got %d events and error %v, want context.Canceled", len(got), err)
	}
}

// TestReadEventsOfAStreamDeletedMeanwhile: a stream deleted between two
// events (an operator's mistake, a layout being remade) ends the list
// with an error. The ordered consumer makes a consumer for every fetch and
// by default tries that for ever: ReadEvents never returned, and the
// console's page and 'iseed status' hung.
func TestReadEventsOfAStreamDeletedMeanwhile(t *testing.T) {
	publisher.SetEventsBatch(t, 1) // a fetch an event
	srv := natstest.Run(t)
	js, _ := eventsOn(t, srv, func(pull int64) bool {
		if pull == 2 {
			if err := srv.JS.DeleteStream(context.Background(), "EV"); err != nil {
				t.Errorf("delete the stream: %v", err)
			}
		}
		return pull == 2 // its fetch times out: the next one makes a consumer
	})
	done := make(chan error, 1)
	go func() {
		_, err := publisher.ReadEvents(context.Background(), js, "EV", publisher.SubjectsFor(""), "acme", "s1")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "incomplete") {
			t.Errorf("ReadEvents of a stream deleted after the first event: got error %v, want one saying the list is incomplete", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ReadEvents of a stream deleted after the first event has not returned in 30 s")
	}
}

// TestReadEventsOfASubmissionWithNone: a submission with no events is an
// empty list, known from the stream without waiting for a fetch to time
// out; its events are not another submission's.
func TestReadEventsOfASubmissionWithNone(t *testing.T) {
	js, pulls := eventsThrough(t, func(int64) bool { return false })
	s := publisher.SubjectsFor("")
	got, err := publisher.ReadEvents(context.Background(), js, "EV", s, "acme", "none")
	if err != nil || len(got) != 0 {
		t.Errorf("ReadEvents of a submission with no events: got %s, %v, want none", got, err)
	}
	if n := pulls.Load(); n != 0 {
		t.Errorf("ReadEvents of a submission with no events sent %d fetches, want none", n)
	}
	got, err = publisher.ReadEvents(context.Background(), js, "EV", s, "acme", "s2")
	if err != nil || len(got) != 1 || string(got[0]) != `{"n":1}` {
		t.Errorf("ReadEvents of acme/s2: got %s, %v, want its one event", got, err)
	}
}

// TestReadEventsFetchesInBatches: a submission's events come in one
// fetch, not one each: every fetch of an ordered consumer makes a consumer
// of its own (on a cluster through its meta leader), and a tenant may
// publish as many payloads under a submission's id as it likes.
func TestReadEventsFetchesInBatches(t *testing.T) {
	js, pulls := eventsThrough(t, func(int64) bool { return false })
	got, err := publisher.ReadEvents(context.Background(), js, "EV", publisher.SubjectsFor(""), "acme", "s1")
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadEvents: got %d events, error %v; want 3", len(got), err)
	}
	if n := pulls.Load(); n != 1 {
		t.Errorf("ReadEvents of 3 events made %d fetches, want 1", n)
	}
}
