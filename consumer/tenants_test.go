package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// publishAs puts a submission on tenant's subject with the given message id
// and returns whether the stream stored it (false: a duplicate).
func (h *harness) publishAs(tenant string, data []byte, msgID string) bool {
	h.T.Helper()
	m := nats.NewMsg(h.Res.Layout.SubmissionSubject(tenant))
	m.Data = data
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	ack, err := h.NATS.JS.PublishMsg(context.Background(), m)
	if err != nil {
		h.T.Fatal(err)
	}
	return !ack.Duplicate
}

func msgIDOf(tenant string, data []byte) string {
	sub, _ := consumer.DecodeSubmission(data)
	return publisher.SubmissionMsgID(tenant, sub.ID, sub.Fingerprint())
}

// TestSameSubmissionIDInTwoTenants: two tenants that use the same submission
// id, each with its required message id, are both stored and sent.
func TestSameSubmissionIDInTwoTenants(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	a := pipetest.Submission("emp-1", pipetest.ValidFields("Mario"))
	b := pipetest.Submission("emp-1", pipetest.ValidFields("Luigi"))
	if !h.publishAs("acme", a, msgIDOf("acme", a)) || !h.publishAs("globex", b, msgIDOf("globex", b)) {
		t.Fatal("a tenant's submission was dropped as a duplicate of the other's")
	}
	h.WaitState("emp-1", record.StateSubmitted)
	pipetest.WaitFor(t, 10*time.Second, "globex's submission", func() bool {
		r, _, err := record.NewStore(h.Res.Records).Get(context.Background(), "globex", "emp-1")
		return err == nil && r.State == record.StateSubmitted
	})
	if got := h.Counter("created"); got != 2 {
		t.Errorf("upstream requests: got %d, want 2", got)
	}
}

// TestGuessableMessageIDIsRefused: a message id that is not the tenant's
// own form (anyone could guess it and publish it first) is refused before
// anything is recorded, with a dead letter and a rejected event naming the
// required form; the same submission with its proper id then goes through.
func TestGuessableMessageIDIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	data := pipetest.Submission("emp-g", pipetest.ValidFields("Mario"))
	sub, _ := consumer.DecodeSubmission(data)
	tests := []string{"emp-g", "acme.emp-g", "globex." + strings.TrimPrefix(msgIDOf("acme", data), "acme."), msgIDOf("acme", data) + "x",
		publisher.LegacySubmissionMsgID("globex", sub.ID, sub.Fingerprint()), publisher.LegacySubmissionMsgID("acme", sub.ID, sub.Fingerprint()) + "x",
		"RSSMRA85T10A562S"} // a producer's own id, made of personal data: never quoted back into logs or dead letters
	for _, id := range tests {
		h.publishAs("acme", data, id)
	}
	pipetest.WaitFor(t, 10*time.Second, "a dead letter each", func() bool { return len(h.DeadLetters()) == len(tests) })
	// Each message's event is stored after its dead letter, and each is
	// acknowledged after its event: wait for every ack, not on the worker
	// count to have finished one of them.
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	for _, dl := range h.DeadLetters() {
		if dl.Reason != dlq.ReasonMalformed || !strings.Contains(dl.Error, "Nats-Msg-Id must be") {
			t.Errorf("dead letter: got reason %q, error %q; want malformed naming the message id", dl.Reason, dl.Error)
		}
		if strings.Contains(dl.Error, "RSSMRA") {
			t.Errorf("dead letter error quotes the id sent: %q", dl.Error)
		}
	}
	evs := h.Events("emp-g")
	if len(evs) != 1 || evs[0].Type != "iseed.submission.rejected" {
		t.Fatalf("events: got %v, want one rejected (deduplicated)", h.EventTypes("emp-g"))
	}
	if h.Record("emp-g") != nil {
		t.Fatal("a record was created for a refused message: the producer could not correct it")
	}
	h.publishAs("acme", data, msgIDOf("acme", data))
	h.WaitState("emp-g", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestEarlierFormOfTheMessageIDIsAccepted: a producer that still sets the
// message id of the earlier form (publisher.LegacySubmissionMsgID, which
// other tenants can read back from the stream) has its submission sent,
// and deduplicated by it: refusing it would not hide it.
func TestEarlierFormOfTheMessageIDIsAccepted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	data := pipetest.Submission("emp-l", pipetest.ValidFields("Mario"))
	sub, _ := consumer.DecodeSubmission(data)
	id := publisher.LegacySubmissionMsgID("acme", sub.ID, sub.Fingerprint())
	if !h.publishAs("acme", data, id) {
		t.Fatal("the submission was dropped as a duplicate")
	}
	h.WaitState("emp-l", record.StateSubmitted)
	if h.publishAs("acme", data, id) {
		t.Error("the same message id again was stored: want it dropped as a duplicate")
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: %+v; want none", dls)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestForgedReplayHeaderChangesNothing: any publisher on a submissions
// subject can set the replay header; unsigned or wrongly signed, it reopens
// nothing: no new generation, no POST. Its dead letter is one per letter
// the header names (TestUnverifiedReplayKeepsALetter says why).
func TestForgedReplayHeaderChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
	h.Start()
	data := pipetest.Submission("emp-f", pipetest.ValidFields("Mario"))
	h.Publish(data, nil)
	h.WaitState("emp-f", record.StateFailed)
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 5*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	h.Sim.SetFaults(sim.Faults{})
	subject := h.Res.Layout.SubmissionSubject(pipetest.Tenant)
	forged := []string{
		"1", strings.Split(dlq.SignReplay([]byte("another key, not iseed's, 32 byt"), dls[0].Seq, subject, data), ":")[0],
		dlq.SignReplay([]byte("another key, not iseed's, 32 byt"), dls[0].Seq, subject, data),
		dlq.SignReplay(pipetest.ReplayKey, dls[0].Seq, h.Res.Layout.SubmissionSubject("globex"), data), // another subject's
		dlq.SignReplay(pipetest.ReplayKey, dls[0].Seq, subject, pipetest.Submission("emp-f", pipetest.ValidFields("Luigi"))),
	}
	for _, v := range forged {
		h.Publish(data, nats.Header{dlq.ReplayHeader: {v}})
	}
	pipetest.WaitFor(t, 10*time.Second, "the forged replays handled", func() bool { return h.settled() })
	r := h.Record("emp-f")
	if r.Generation != 1 || r.State != record.StateFailed || len(r.Replays) != 0 {
		t.Errorf("record: generation %d, state %s, replays %v; want 1, failed, none", r.Generation, r.State, r.Replays)
	}
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POSTs: got %d, want 1", got)
	}
	// The three headers that name a letter name the same one: one more
	// letter; the two that name none add nothing.
	if got := h.DeadLetters(); len(got) != 2 || got[1].SubmissionID != "emp-f" || got[1].Reason != dls[0].Reason {
		t.Errorf("dead letters: got %+v, want 2: the first, and one for the letter the forged headers name", got)
	}
	// The operator's signed replay works, once; a copy of it does nothing more.
	if err := h.Queue().Replay(context.Background(), dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	r = h.WaitState("emp-f", record.StateSubmitted)
	if r.Generation != 2 || !slices.ContainsFunc(r.Replays, func(p record.Replay) bool { return p.Seq == dls[0].Seq }) {
		t.Errorf("after the replay: generation %d, replays %v; want 2 naming dead letter %d", r.Generation, r.Replays, dls[0].Seq)
	}
	h.Publish(data, nats.Header{dlq.ReplayHeader: {dlq.SignReplay(pipetest.ReplayKey, dls[0].Seq, subject, data)}})
	pipetest.WaitFor(t, 10*time.Second, "the copy handled", func() bool { return h.settled() })
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestReplayTakenAsDuplicateKeepsTheDeadLetter: when the stream reports the
// replayed message as a duplicate (someone published its id first), the
// replay fails and the dead letter stays.
func TestReplayTakenAsDuplicateKeepsTheDeadLetter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
	h.Start()
	h.Publish(pipetest.Submission("emp-d", pipetest.ValidFields("Mario")), nil)
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	const taken = "acme.emp-d.taken"
	h.publishAs("acme", []byte(`{}`), taken)
	q := dlq.NewQueue(h.NATS.JS, h.Res, pipetest.ReplayKey, func(string, []byte, string) string { return taken })
	if err := q.Replay(context.Background(), dls[0].Seq); !errors.Is(err, dlq.ErrReplayDuplicate) {
		t.Fatalf("replay: got %v, want ErrReplayDuplicate", err)
	}
	if got := h.DeadLetters(); !slices.ContainsFunc(got, func(d dlq.DeadLetter) bool { return d.Seq == dls[0].Seq }) {
		t.Errorf("dead letters after a duplicate replay: got %+v, want the original (%d) kept", got, dls[0].Seq)
	}
}

// TestMalformedEventWithIdentityGetsAnEvent: a malformed message whose
// tenant and id can be read gets a rejected event as well as a dead letter,
// unless that id belongs to an existing submission, which keeps its own.
func TestMalformedEventWithIdentityGetsAnEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	h.Publish(pipetest.Submission("emp-ok", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-ok", record.StateSubmitted)
	h.Publish([]byte(`{"id":"emp-m","service":"ISEE"}`), nil)
	h.Publish([]byte(`{"id":"emp-ok","service":"ISEE"}`), nil)
	pipetest.WaitFor(t, 10*time.Second, "two dead letters", func() bool { return len(h.DeadLetters()) == 2 })
	pipetest.WaitFor(t, 10*time.Second, "the rejected event", func() bool { return len(h.Events("emp-m")) == 1 })
	ev := h.Events("emp-m")[0]
	if ev.Type != "iseed.submission.rejected" || !strings.Contains(string(ev.Data), `"reason":"malformed"`) || !strings.Contains(string(ev.Data), "fields is required") {
		t.Errorf("event: got %s %s, want rejected, reason malformed, naming the problem", ev.Type, ev.Data)
	}
	h.WaitLastEvent("emp-ok", "iseed.submission.submitted") // stored after the record waited for (consumer/handle.go, finish)
	if got := h.EventTypes("emp-ok"); !slices.Equal(got, []string{"iseed.submission.submitted"}) {
		t.Errorf("the existing submission's events: got %v, want only its submitted", got)
	}
	// The producer fixes the message: the real submission's own rejection
	// (invalid input) is announced too, not swallowed as a duplicate of the
	// malformed message's.
	bad := pipetest.ValidFields("Mario")
	bad["Codice Fiscale"] = "NOT-A-TAX-CODE"
	h.Publish(pipetest.Submission("emp-m", bad), nil)
	h.WaitState("emp-m", record.StateRejected)
	pipetest.WaitFor(t, 10*time.Second, "the second rejected event", func() bool { return len(h.Events("emp-m")) == 2 })
	if ev := h.Events("emp-m")[1]; !strings.Contains(string(ev.Data), "invalid_codice_fiscale") {
		t.Errorf("second event: got %s, want the invalid submission's rejection", ev.Data)
	}
}

// TestByteOrderMarkIsRejectedWithAnEvent: a submission written by a tool
// that starts its UTF-8 with a byte order mark is malformed, and its
// producer hears why from a rejected event, as for any malformed message
// whose id can be read; nothing is sent.
func TestByteOrderMarkIsRejectedWithAnEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	h.Publish(append([]byte("\uFEFF"), pipetest.Submission("emp-bom", pipetest.ValidFields("Mario"))...), nil)
	pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	pipetest.WaitFor(t, 10*time.Second, "the rejected event", func() bool { return len(h.Events("emp-bom")) == 1 })
	if ev := h.Events("emp-bom")[0]; !strings.Contains(string(ev.Data), `"reason":"malformed"`) || !strings.Contains(string(ev.Data), "byte order mark") {
		t.Errorf("event: got %s %s, want rejected, reason malformed, naming the byte order mark", ev.Type, ev.Data)
	}
	if dl := h.DeadLetters()[0]; dl.SubmissionID != "emp-bom" || dl.Reason != dlq.ReasonMalformed {
		t.Errorf("dead letter: got %s/%s, want emp-bom/malformed", dl.SubmissionID, dl.Reason)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POSTs: got %d, want 0", got)
	}
}

// TestMisspeltEnvelopeIsNotSent: encoding/json would take "Id" for "id"
// and keep the last of a repeated name. A valid submission with a re-cased
// member, or with a field given twice, is malformed: dead-lettered, never
// sent or charged; its producer hears why, also when the id's own name is
// the one re-cased.
func TestMisspeltEnvelopeIsNotSent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	recased := func(id, from, to string) []byte {
		return bytes.Replace(pipetest.Submission(id, pipetest.ValidFields("Mario")), []byte(from), []byte(to), 1)
	}
	twice := bytes.Replace(pipetest.Submission("emp-twice", pipetest.ValidFields("Mario")), []byte(`"Nome":"Mario"`), []byte(`"Nome":"Mario","Nome":"Luigi"`), 1)
	tests := []struct {
		id   string
		data []byte
		want string
	}{
		{"emp-id", recased("emp-id", `"id":`, `"Id":`), `did you mean \"id\"?`},
		{"emp-service", recased("emp-service", `"service":`, `"SERVICE":`), `did you mean \"service\"?`},
		{"emp-metadata", recased("emp-metadata", `"metadata":`, `"MetaData":`), `did you mean \"metadata\"?`},
		{"emp-twice", twice, "fields: the same name twice"},
	}
	for _, tt := range tests {
		h.Publish(tt.data, nil)
	}
	pipetest.WaitFor(t, 10*time.Second, "a dead letter each", func() bool { return len(h.DeadLetters()) == len(tests) })
	for _, tt := range tests {
		pipetest.WaitFor(t, 10*time.Second, tt.id+"'s rejected event", func() bool { return len(h.Events(tt.id)) == 1 })
		if ev := h.Events(tt.id)[0]; !strings.Contains(string(ev.Data), `"reason":"malformed"`) || !strings.Contains(string(ev.Data), tt.want) {
			t.Errorf("%s: got %s %s, want rejected, reason malformed, saying %s", tt.id, ev.Type, ev.Data, tt.want)
		}
	}
	for _, dl := range h.DeadLetters() {
		if dl.Reason != dlq.ReasonMalformed {
			t.Errorf("dead letter of %s: reason %q, want malformed", dl.SubmissionID, dl.Reason)
		}
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
}

// TestOversizedMetadataIsRejectedBeforeAnything: metadata that JSON
// escaping swells past the limit (each < becomes six bytes) is refused at
// decode time with a rejected event naming the limit; nothing is sent,
// charged or recorded.
func TestOversizedMetadataIsRejectedBeforeAnything(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	ev := map[string]any{"id": "emp-meta", "service": "ISEE", "fields": pipetest.ValidFields("Mario"),
		"metadata": map[string]string{"note": strings.Repeat("<", consumer.MaxMetadataBytes/6+1)}}
	data, _ := json.Marshal(ev)
	h.Publish(data, nil)
	pipetest.WaitFor(t, 10*time.Second, "the rejected event", func() bool { return len(h.Events("emp-meta")) == 1 })
	if ev := h.Events("emp-meta")[0]; !strings.Contains(string(ev.Data), "metadata is") || !strings.Contains(string(ev.Data), "allowed") {
		t.Errorf("event: got %s, want the metadata limit named", ev.Data)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POSTs: got %d, want 0", got)
	}
	if h.Record("emp-meta") != nil {
		t.Error("a record was kept for an oversized event")
	}
}

// TestLargestSubmissionIsDeadLettered: whatever size of message the
// submissions stream takes, its dead letter (the payload and iseed's
// headers) fits in a NATS message too. The largest invalid submission the
// stream accepts is rejected (as too large to publish again, see
// TestLargestSubmissionIsReleasedFromItsHold) with its event and dead
// letter, once, never redelivered because its dead letter cannot be stored.
func TestLargestSubmissionIsDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	info, err := h.Res.Submissions.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	limit := int(info.Config.MaxMsgSize) // the message, headers included
	if limit <= 0 {
		limit = int(h.NATS.NC.MaxPayload())
	}
	fields := pipetest.ValidFields("Mario")
	fields["Codice Fiscale"] = "NOT-A-TAX-CODE"
	fields["$6"] = "cf.pdf|data:application/pdf;base64,"
	short := limit - len(pipetest.Submission("emp-large", fields))
	fields["$6"] = fields["$6"].(string) + strings.Repeat("QUFB", short/4)
	fields["Nome"] = "Mario" + strings.Repeat(" ", short%4) // trimmed: only the size changes
	data := pipetest.Submission("emp-large", fields)
	if len(data) != limit {
		t.Fatalf("submission of %d bytes, want %d", len(data), limit)
	}
	h.Publish(data, nil)
	pipetest.WaitFor(t, 10*time.Second, "the rejected event", func() bool { return len(h.Events("emp-large")) == 1 })
	if ev := h.Events("emp-large")[0]; ev.Type != "iseed.submission.rejected" {
		t.Errorf("event: got %s %.300s, want rejected", ev.Type, ev.Data)
	}
	pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POSTs: got %d, want 0", got)
	}
}

// TestSizeLimitRaisedWhileRunning: the submissions stream's size limit,
// raised while a pipeline runs (by another replica that starts with a
// larger max_payload and sets it anew, or by an operator), is the one that
// counts. A submission larger than the limit the pipeline read at its start
// but within the stream's is sent, not rejected as malformed on the old
// limit: iseed dlq replay, which reads the limit afresh, would replay that
// dead letter only for it to be rejected again.
func TestSizeLimitRaisedWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	cfg := h.Res.Submissions.CachedInfo().Config
	raised := cfg.MaxMsgSize
	cfg.MaxMsgSize = 64 << 10
	if raised > 0 && raised <= cfg.MaxMsgSize {
		t.Fatalf("the submissions stream takes %d bytes: nothing to raise from 64 KiB", raised)
	}
	// The pipeline starts while the stream takes 64 KiB: the limit it reads.
	if _, err := h.NATS.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Res.Submissions.Info(ctx); err != nil {
		t.Fatal(err)
	}
	started := h.Res.MaxSubmissionBytes()
	h.Start()
	cfg.MaxMsgSize = raised // through a handle of its own, as another process
	if _, err := h.NATS.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	fields := pipetest.ValidFields("Mario")
	fields["$6"] = "cf.pdf|data:application/pdf;base64,"
	short := started + 1024 - len(pipetest.Submission("emp-grown", fields))
	fields["$6"] = fields["$6"].(string) + strings.Repeat("QUFB", short/4)
	data := pipetest.Submission("emp-grown", fields)
	h.Publish(data, nil)
	pipetest.WaitFor(t, 20*time.Second, "emp-grown's first event", func() bool { return len(h.Events("emp-grown")) > 0 })
	if ev := h.Events("emp-grown")[0]; ev.Type != "iseed.submission.submitted" {
		t.Errorf("a submission of %d bytes, over the %d of the pipeline's start, within the stream's limit raised since: got %s %.300s, want submitted",
			len(data), started, ev.Type, ev.Data)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestOutcomeLogHasNoDuplicateKeys: the daemon's logger names itself with
// "service"; the outcome line names the Visengine service under another
// key, so that log pipelines (which keep one of two equal keys) lose
// neither.
func TestOutcomeLogHasNoDuplicateKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var logs pipetest.Buffer
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.Logger = zerolog.New(&logs).With().Str("service", "iseed").Logger() }))
	h.Publish(pipetest.Submission("emp-keys", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-keys", record.StateSubmitted)
	pipetest.WaitFor(t, 10*time.Second, "the outcome's log line", func() bool {
		return strings.Contains(logs.String(), `"submission":"emp-keys"`)
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"submission":"emp-keys"`) && (strings.Count(line, `"service":`) != 1 || !strings.Contains(line, `"visengine_service":"ISEE"`)) {
			t.Errorf("log line %s: want one \"service\" (iseed's) and the Visengine service as visengine_service", line)
		}
	}
}

// TestMalformedEventIsLoggedWithItsID: the log line of a malformed message
// names the submission id its rejected event and dead letter carry, when
// the id can be read, so that the three can be matched.
func TestMalformedEventIsLoggedWithItsID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var logs pipetest.Buffer
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.Logger = zerolog.New(&logs) }))
	h.Publish([]byte(`{"id":"emp-logged","service":"ISEE"}`), nil)
	pipetest.WaitFor(t, 10*time.Second, "the outcome's log line", func() bool {
		return strings.Contains(logs.String(), `"outcome":"rejected"`)
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"outcome":"rejected"`) && !strings.Contains(line, `"submission":"emp-logged"`) {
			t.Errorf("log line %s: want the submission id", line)
		}
	}
}

// TestUnansweredPostIsLoggedWithItsStatus: a POST answered 503 (the request
// may exist) ends its delivery still settling; the log line names the
// status the POST met, which the breaker runbook asks operators to read.
func TestUnansweredPostIsLoggedWithItsStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1, Status: 503}}})
	var logs pipetest.Buffer
	h.Start(pipetest.WithConfig(func(c *consumer.Config) {
		c.Logger = zerolog.New(&logs)
		c.ReconcileSettle = time.Minute // longer than the delivery's in-process budget
		c.InProcessBudget = 500 * time.Millisecond
	}))
	h.Publish(pipetest.Submission("emp-503", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the delivery's log line", func() bool {
		return strings.Contains(logs.String(), `"submission":"emp-503"`)
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"submission":"emp-503"`) && !strings.Contains(line, "HTTP 503") {
			t.Errorf("log line %s: want the status the POST met", line)
		}
	}
}
