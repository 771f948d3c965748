package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

// lineWriter sends each line written to it on lines.
type lineWriter struct{ lines chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimSuffix(string(p), "\n"), "\n") {
		w.lines <- l
	}
	return len(p), nil
}

// TestWatchGoesOnWhenItsNodeFails: in a three-node cluster the node that
// holds iseed watch's consumer (an ordered consumer: one replica, on one
// node) fails while watch's connection, to another node, stays up; an
// event is then stored. nats.go makes an ordered pull consumer again when
// it has missed two of its heartbeats (5 s each), from the event after the
// last it delivered: watch prints it about ten seconds late, and nothing
// is left out (docs/cli.md).
func TestWatchGoesOnWhenItsNodeFails(t *testing.T) {
	nodes := natstest.RunClusterNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, js := natstest.Connect(t, nodes[0].ClientURL())
	_, any := natstest.Connect(t, nodes[0].ClientURL()+","+nodes[1].ClientURL()+","+nodes[2].ClientURL())
	l := layout.Layout{Replicas: 3}.WithDefaults()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		try, end := context.WithTimeout(ctx, 5*time.Second)
		_, err := any.CreateStream(try, jetstream.StreamConfig{Name: l.EventsStream(), Subjects: l.Events().Of("*", "*"), Replicas: 3})
		end()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the events stream: %v", err)
		}
	}
	pub := publisher.New(any, publisher.Config{Prefix: l.Prefix, EventsStream: l.EventsStream()})
	publish := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; {
			try, end := context.WithTimeout(ctx, 2*time.Second)
			err := pub.Status(try, publisher.Status{Tenant: "acme", SubmissionID: id, State: publisher.StateSubmitted, Generation: 1, At: time.Now()})
			end()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v", id, err)
			}
		}
	}
	printed := func(w lineWriter, id string) {
		t.Helper()
		for deadline := time.After(30 * time.Second); ; {
			select {
			case line := <-w.lines:
				if strings.Contains(line, "acme/"+id+" ") {
					return
				}
			case <-deadline:
				t.Fatalf("watch printed no line of %s in 30s", id)
			}
		}
	}
	publish("emp-1")

	w := lineWriter{lines: make(chan string, 16)}
	note := new(bytes.Buffer)
	holder, stop := natstest.ConsumerAwayFrom(t, any, l.EventsStream(), nodes[0].Name(), func() func() {
		w = lineWriter{lines: make(chan string, 16)}
		note = new(bytes.Buffer)
		run, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- watchEvents(run, js, l, "acme", "", jetstream.DeliverAllPolicy, w, note)
		}()
		printed(w, "emp-1")
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
	printed(w, "emp-2")
	t.Logf("the node holding watch's consumer (%s) failed; it printed the next event %s after it was stored", holder, time.Since(stored).Round(time.Millisecond))
}
