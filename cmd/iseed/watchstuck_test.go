package main

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

// stuckWriter is standard output nobody reads (a pipe into a reader that
// stopped, a terminal paused): its first write blocks until release.
type stuckWriter struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	return len(p), nil
}

// infoSignal is a JetStream whose streams say when their info is read:
// watch's check that the events stream is the one it began on.
type infoSignal struct {
	jetstream.JetStream
	infos chan struct{}
}

func (j *infoSignal) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	st, err := j.JetStream.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return &infoSignalStream{Stream: st, infos: j.infos}, nil
}

type infoSignalStream struct {
	jetstream.Stream
	infos chan struct{}
}

func (s *infoSignalStream) Info(ctx context.Context, opts ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	info, err := s.Stream.Info(ctx, opts...)
	select {
	case s.infos <- struct{}{}:
	default:
	}
	return info, err
}

// TestWatchStopsWhileItsOutputIsStuck: iseed watch stops when asked
// (Ctrl-C, SIGTERM) even while a write to its output blocks. Its check
// that the events stream is the one it began on waited for the lock the
// blocked print held, and the watch never saw its context end.
func TestWatchStopsWhileItsOutputIsStuck(t *testing.T) {
	d, _ := startCLIDaemonOn(t)
	w := &stuckWriter{entered: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(w.release) })
	js := &infoSignal{JetStream: d.js, infos: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- watchEvents(ctx, js, d.res.Layout, "acme", "", jetstream.DeliverAllPolicy, w, io.Discard)
	}()
	p := publisher.New(d.js, publisher.Config{Prefix: d.res.Layout.Prefix, EventsStream: d.res.Layout.EventsStream()})
	if err := p.Status(ctx, publisher.Status{Tenant: "acme", SubmissionID: "emp-1", State: "submitted", Generation: 1, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("watch never printed the event")
	}
	select { // a check since the print blocked: it found the stream unchanged
	case <-js.infos:
	default:
	}
	select {
	case <-js.infos:
	case <-time.After(20 * time.Second):
		t.Fatal("watch never checked the events stream")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not return within 10 s of its context's end while a write to its output blocked")
	}
}
