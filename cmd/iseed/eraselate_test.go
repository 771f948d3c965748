package main

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// hookedJS runs before ahead of every message it publishes.
type hookedJS struct {
	jetstream.JetStream
	before func(subject string)
}

func (h hookedJS) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	h.before(m.Subject)
	return h.JetStream.PublishMsg(ctx, m, opts...)
}

// outcomesCounted is how many messages the pipeline whose metrics reg
// holds has finished.
func outcomesCounted(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "iseed_submission_outcomes_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// TestEraseBetweenRejectionAndItsDeadLetter: the pipeline writes a
// rejected record first, then stores its dead letter (the payload:
// personal data) and publishes its rejected event, then settles the
// message. iseed erase run in between found the record closed, purged no
// letter and scrubbed it, and the letter and the event stored after it
// outlived the erasure. Here erase runs for real at that moment (the
// pipeline's dead-letter publish waits for it): afterwards no dead letter
// or event of the submission is left, and the record is scrubbed.
func TestEraseBetweenRejectionAndItsDeadLetter(t *testing.T) {
	srv := cliEnv(t)
	h := pipetest.NewOnServer(t, srv, sim.Config{}, 2*time.Second, pipetest.DefaultLayout())
	const id = "emp-late-letter"
	letterSubject := h.Res.Layout.DLQSubject(pipetest.Tenant, id)
	var (
		once sync.Once
		done = make(chan struct{})
		rep  erasureReport
		out  string
		code int
	)
	reg := prometheus.NewRegistry()
	h.Start(pipetest.WithMetrics(consumer.NewMetrics(reg)), pipetest.WithDeps(func(d *consumer.Deps) {
		d.Publisher = hookedJS{JetStream: d.Publisher, before: func(subject string) {
			if subject != letterSubject {
				return
			}
			once.Do(func() {
				defer close(done)
				var errOut string
				out, errOut, code = runCLIInput(t, "", "erase", "--yes", "-o", "json", "--tenant", pipetest.Tenant, id)
				_ = json.Unmarshal([]byte(out), &rep)
				out += errOut
			})
		}}
	}))
	fields := pipetest.ValidFields("Mario")
	fields["Email"] = "not an address"
	h.Publish(pipetest.Submission(id, fields), nil)

	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the pipeline never stored the rejection's dead letter")
	}
	if x := outcomes(rep)[id]; code != 0 || x.Outcome != erased || !x.RecordScrubbed {
		t.Fatalf("erase between the rejected record and its dead letter: exit %d, output %q; want 0, erased", code, out)
	}
	ctx := context.Background()
	// The erasure deleted the message from the submissions stream, and
	// with it from the consumer's pending ones: the pipeline's count of
	// outcomes says when it is done with it.
	pipetest.WaitFor(t, 30*time.Second, "the rejected message's outcome", func() bool { return outcomesCounted(t, reg) == 1 })
	events, err := srv.JS.Stream(ctx, h.Res.Layout.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	if n := onSubject(t, h.Res.DLQ, letterSubject); n != 0 {
		t.Errorf("dead letters of the erased submission: got %d, want 0 (stored after the erasure, they outlive it)", n)
	}
	for _, subject := range h.Res.Layout.Events().Of(pipetest.Tenant, id) {
		if n := onSubject(t, events, subject); n != 0 {
			t.Errorf("events on %s of the erased submission: got %d, want 0", subject, n)
		}
	}
	if rec := h.Record(id); rec.Scrubbed.IsZero() || rec.State != record.StateRejected {
		t.Errorf("record after the erasure: %s, scrubbed %v; want rejected, scrubbed", rec.State, rec.Scrubbed)
	}
}
