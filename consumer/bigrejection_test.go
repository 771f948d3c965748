package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
	natsserver "github.com/nats-io/nats-server/v2/test"
)

// TestOversizedRejectionIsAnnouncedOnce: on a server with a small
// max_payload (32 KiB), a submission within the size limit whose
// rejection would echo more than that (its metadata, and a hundred
// problems about unknown fields whose names JSON escapes six-fold) is
// still rejected once: its rejected event is published, trimmed to fit
// and saying what it left out, its dead letter stored once, and the
// message terminated, not redelivered until max deliveries.
func TestOversizedRejectionIsAnnouncedOnce(t *testing.T) {
	t.Parallel()
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = -1, true, t.TempDir()
	opts.MaxPayload = 32 << 10
	h := &harness{pipetest.NewOnServer(t, natstest.RunWithOptions(t, &opts), sim.Config{Step: time.Hour, Wallet: 1e7}, 2*time.Second, pipetest.DefaultLayout())}
	h.Start()
	fields := pipetest.ValidFields("Mario")
	for i := range 150 {
		fields[fmt.Sprintf("%03d%s", i, strings.Repeat("<", 70))] = "x"
	}
	var sub map[string]any
	if err := json.Unmarshal(pipetest.Submission("emp-big", fields), &sub); err != nil {
		t.Fatal(err)
	}
	sub["metadata"] = map[string]string{"note": strings.Repeat("m", 10<<10)}
	payload, _ := json.Marshal(sub)
	payload = []byte(strings.ReplaceAll(string(payload), `\u003c`, "<")) // a producer need not escape them
	if limit := h.Res.MaxSubmissionBytes(); len(payload) > limit {
		t.Fatalf("submission of %d bytes, over the %d a submission may have: the test must send one within it", len(payload), limit)
	}
	h.Publish(payload, nil)
	rejected := publisher.StatusType(publisher.StateRejected)
	ctx := context.Background()
	pipetest.WaitExplained(t, 20*time.Second, "emp-big rejected, announced and its message settled", func() bool {
		evs := h.Events("emp-big")
		ci, err := h.Res.Consumer.Info(ctx)
		return len(evs) > 0 && evs[len(evs)-1].Type == rejected && err == nil && ci.NumAckPending == 0 && ci.NumPending == 0
	}, func() string {
		ci, _ := h.Res.Consumer.Info(ctx)
		r := h.Record("emp-big")
		state := "no record"
		if r != nil {
			state = r.State
		}
		return fmt.Sprintf("record %s, events %v, redelivered %d, ack pending %d", state, h.EventTypes("emp-big"), ci.NumRedelivered, ci.NumAckPending)
	})
	if r := h.Record("emp-big"); r == nil || r.State != record.StateRejected {
		t.Errorf("record: got %+v, want rejected", r)
	}
	if ci, err := h.Res.Consumer.Info(ctx); err != nil || ci.NumRedelivered != 0 || ci.Delivered.Consumer != 1 {
		t.Errorf("submissions consumer: got %+v (%v), want one delivery, none redelivered", ci, err)
	}
	evs := h.Events("emp-big")
	var st publisher.Status
	if err := json.Unmarshal(evs[len(evs)-1].Data, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Errors) == 0 || st.Errors[len(st.Errors)-1].Code != "too_many_problems" {
		t.Errorf("rejected event's last problem: got %+v, want too_many_problems saying how many were left out", st.Errors)
	}
	var letters int
	for _, d := range h.DeadLetters() {
		if d.SubmissionID == "emp-big" {
			letters++
			if d.Reason != dlq.ReasonInvalid {
				t.Errorf("dead letter reason: got %q, want %q", d.Reason, dlq.ReasonInvalid)
			}
		}
	}
	if letters != 1 {
		t.Errorf("dead letters of emp-big: got %d, want 1", letters)
	}
}

// TestRejectionWithMetadataOverMaxPayload: metadata within its limit (16
// KiB as stored: a producer's 2.7 KiB of "<" is escaped six-fold) leaves
// no room under a max_payload of 16 KiB for the rejection that copies it:
// problems or not, the rejected record and event were over max_payload,
// refused on every delivery, and the message redelivered until max
// deliveries, its producer never told. The rejection now leaves the
// metadata out and says so in a problem; it is announced once.
func TestRejectionWithMetadataOverMaxPayload(t *testing.T) {
	t.Parallel()
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = -1, true, t.TempDir()
	opts.MaxPayload = 16 << 10
	h := &harness{pipetest.NewOnServer(t, natstest.RunWithOptions(t, &opts), sim.Config{Step: time.Hour, Wallet: 1e7}, 2*time.Second, pipetest.DefaultLayout())}
	h.Start()
	fields := pipetest.ValidFields("Mario")
	fields["Nonesiste"] = "x" // an unknown field: rejected
	var sub map[string]any
	if err := json.Unmarshal(pipetest.Submission("emp-meta", fields), &sub); err != nil {
		t.Fatal(err)
	}
	sub["metadata"] = map[string]string{"note": strings.Repeat("<", 2700)}
	payload, _ := json.Marshal(sub)
	payload = []byte(strings.ReplaceAll(string(payload), `\u003c`, "<")) // a producer need not escape them
	if stored, _ := json.Marshal(json.RawMessage(`{"note":"` + strings.Repeat("<", 2700) + `"}`)); len(stored) > consumer.MaxMetadataBytes || len(stored) < int(opts.MaxPayload)-1<<10 {
		t.Fatalf("metadata of %d bytes as stored: the test needs it within %d and leaving less than 1 KiB of max_payload", len(stored), consumer.MaxMetadataBytes)
	}
	if limit := h.Res.MaxSubmissionBytes(); len(payload) > limit {
		t.Fatalf("submission of %d bytes, over the %d a submission may have: the test must send one within it", len(payload), limit)
	}
	h.Publish(payload, nil)
	rejected := publisher.StatusType(publisher.StateRejected)
	ctx := context.Background()
	pipetest.WaitExplained(t, 20*time.Second, "emp-meta rejected, announced and its message settled", func() bool {
		evs := h.Events("emp-meta")
		ci, err := h.Res.Consumer.Info(ctx)
		return len(evs) > 0 && evs[len(evs)-1].Type == rejected && err == nil && ci.NumAckPending == 0 && ci.NumPending == 0
	}, func() string {
		ci, _ := h.Res.Consumer.Info(ctx)
		state := "no record"
		if r := h.Record("emp-meta"); r != nil {
			state = r.State
		}
		return fmt.Sprintf("record %s, events %v, delivered %d, redelivered %d, ack pending %d", state, h.EventTypes("emp-meta"), ci.Delivered.Consumer, ci.NumRedelivered, ci.NumAckPending)
	})
	r := h.Record("emp-meta")
	if r == nil || r.State != record.StateRejected || r.Metadata != nil {
		t.Errorf("record: got %+v, want rejected, without the metadata", r)
	}
	if ci, err := h.Res.Consumer.Info(ctx); err != nil || ci.NumRedelivered != 0 || ci.Delivered.Consumer != 1 {
		t.Errorf("submissions consumer: got %+v (%v), want one delivery, none redelivered", ci, err)
	}
	evs := h.Events("emp-meta")
	var st publisher.Status
	if err := json.Unmarshal(evs[len(evs)-1].Data, &st); err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	for _, p := range st.Errors {
		codes[p.Code] = true
	}
	if st.Metadata != nil || !codes["unknown_field"] || !codes[consumer.CodeMetadataLeftOut] {
		t.Errorf("rejected event: got metadata %.40s…, problems %+v; want no metadata, the unknown field and %s", st.Metadata, st.Errors, consumer.CodeMetadataLeftOut)
	}
	var letters int
	for _, d := range h.DeadLetters() {
		if d.SubmissionID == "emp-meta" {
			letters++
			if d.Reason != dlq.ReasonInvalid {
				t.Errorf("dead letter reason: got %q, want %q", d.Reason, dlq.ReasonInvalid)
			}
		}
	}
	if letters != 1 {
		t.Errorf("dead letters of emp-meta: got %d, want 1", letters)
	}
}
