package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

// TestWatchGoesOnWhenItsNodeFails: in a three-node cluster the node that
// holds iseed watch's consumer (an ordered consumer: one replica, on one
// node) fails while watch's connection, to another node, stays up; an
// event is then stored. nats.go makes an ordered pull consumer again when
// it has missed two of its heartbeats (5 s each), from the event after the
// last it delivered: watch prints it about ten seconds late, and nothing
// is left out (docs/cli.md).
func TestWatchGoesOnWhenItsNodeFails(t *testing.T) {
	t.Parallel()
	nodes := natstest.RunClusterNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, js := natstest.Connect(t, nodes[0].ClientURL())
	_, any := natstest.Connect(t, nodes[0].ClientURL()+","+nodes[1].ClientURL()+","+nodes[2].ClientURL())
	l := layout.Layout{Replicas: 3}.WithDefaults()
	natstest.Retry(t, "the events stream", 5*time.Second, func(ctx context.Context) error {
		_, err := any.CreateStream(ctx, jetstream.StreamConfig{Name: l.EventsStream(), Subjects: l.Events().Of("*", "*"), Replicas: 3})
		return err
	})
	pub := publisher.New(any, publisher.Config{Prefix: l.Prefix, EventsStream: l.EventsStream()})
	publish := func(id string) {
		t.Helper()
		natstest.Retry(t, "publish "+id, 2*time.Second, func(ctx context.Context) error {
			return pub.Status(ctx, publisher.Status{Tenant: "acme", SubmissionID: id, State: publisher.StateSubmitted, Generation: 1, At: time.Now()})
		})
	}
	printed := func(out *pipetest.Buffer, id string) {
		t.Helper()
		pipetest.WaitFor(t, 30*time.Second, "watch to print a line of "+id, func() bool {
			return strings.Contains(out.String(), "acme/"+id+" ")
		})
	}
	publish("emp-1")

	var out, note *pipetest.Buffer
	holder, stop := natstest.ConsumerAwayFrom(t, any, l.EventsStream(), nodes[0].Name(), func() func() {
		out, note = new(pipetest.Buffer), new(pipetest.Buffer)
		run, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- watchEvents(run, js, l, "acme", "", jetstream.DeliverAllPolicy, out, note)
		}()
		printed(out, "emp-1")
		return func() { stop(); <-done }
	})
	defer func() {
		stop()
		if t.Failed() {
			t.Logf("watch said on standard error:\n%s", note)
		}
	}()
	natstest.StopNode(nodes, holder)
	publish("emp-2")
	stored := time.Now()
	printed(out, "emp-2")
	t.Logf("the node holding watch's consumer (%s) failed; it printed the next event %s after it was stored", holder, time.Since(stored).Round(time.Millisecond))
}
