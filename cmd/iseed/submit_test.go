package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSubmitWait follows submissions to their outcome: submitted (0),
// rejected with every problem on its own line (1), dead-lettered (1).
func TestSubmitWait(t *testing.T) {
	startCLIDaemon(t)
	valid := eventFile(t, "wait-1", nil)
	conflicting := eventFile(t, "wait-1", badEmail)
	tests := []struct {
		name  string
		args  []string
		code  int
		lines []string // regular expressions, one per line of standard output
	}{
		{"submitted", []string{"submit", "--tenant", "acme", valid, "--wait"}, 0, []string{
			`^wait-1$`,
			`^submitted: acme/wait-1 is upstream request [0-9a-f]{24} \(ISEE, price 16\.00 €\), now (submitted|in_progress)$`}},
		{"submitted already: the same outcome", []string{"submit", "--wait", "--tenant", "acme", valid}, 0, []string{
			`^wait-1$`, `^submitted: acme/wait-1 is upstream request`}},
		{"rejected", []string{"submit", "--tenant", "acme", "--wait", "../../examples/isee-invalid.json"}, 1, []string{
			`^emp-7782-isee-2026$`,
			`^rejected: acme/emp-7782-isee-2026 was not sent, nothing was charged; 8 problem\(s\):$`,
			`^\$1 \(Cognome \*\) missing: Cognome \(\$1\): is required$`, `^\$2 \(Email \*\) invalid_email: `, `^\$3 \(Telefono \*\) missing: `,
			`^\$4 \(Codice Fiscale \*\) invalid_codice_fiscale: `, `^\$5 \(.*\) missing: `, `^\$6 \(.*\) missing: `,
			`^Fax unknown_field: `, `^opzioni \(express\) unknown_option: `}},
		{"another payload under a used id", []string{"submit", "--tenant", "acme", "--wait", conflicting}, 1, []string{
			`^wait-1$`, `^dead-lettered: acme/wait-1 as dead letter \d+, reason conflict: .*; see 'iseed dlq show \d+'$`}},
		// The stream drops the second copy as a duplicate: its outcome is
		// the first copy's dead letter, at once, not a time-out.
		{"the same conflicting event again", []string{"submit", "--tenant", "acme", "--wait", "--timeout", "30s", conflicting}, 1, []string{
			`^wait-1$`, `^dead-lettered: acme/wait-1 as dead letter \d+, reason conflict: .*; see 'iseed dlq show \d+'$`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tt.args...)
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if code != tt.code || len(lines) != len(tt.lines) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d and %d lines", code, out, errOut, tt.code, len(tt.lines))
			}
			for i, re := range tt.lines {
				if !regexp.MustCompile(re).MatchString(lines[i]) {
					t.Errorf("line %d: got %q, want %s", i+1, lines[i], re)
				}
			}
			copied := tt.name == "submitted already: the same outcome" || tt.name == "the same conflicting event again"
			if noted := strings.Contains(errOut, "dropped as a duplicate"); noted != copied {
				t.Errorf("stderr %q: the note on a dropped duplicate is wanted for a copy of an earlier event, and only then", errOut)
			}
		})
	}
}

// TestSubmitWaitUpstreamRefusal reports an upstream refusal by its dead
// letter, as the README shows: reason, sequence, where to look.
func TestSubmitWaitUpstreamRefusal(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1, Status: 400}}})
	event := eventFile(t, "refused-1", nil)
	out, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", "--timeout", "30s", event)
	want := regexp.MustCompile(`^refused-1\ndead-lettered: acme/refused-1 as dead letter (\d+), reason upstream_rejected: .*; see 'iseed dlq show \d+'\n$`)
	m := want.FindStringSubmatch(out)
	if code != exitFailed || m == nil {
		t.Fatalf("exit %d, stdout %q, stderr %q; want %d and %s", code, out, errOut, exitFailed, want)
	}
	// Its dead letter purged, the same event again is a dropped copy of a
	// failed submission: said at once, not after the timeout.
	if out, errOut, code := runCLI(t, "dlq", "purge", "--yes", m[1]); code != 0 {
		t.Fatalf("purge: exit %d, %q %q", code, out, errOut)
	}
	start := time.Now()
	out, errOut, code = runCLI(t, "submit", "--tenant", "acme", "--wait", "--timeout", "30s", event)
	if want := "refused-1\nfailed: acme/refused-1: upstream_rejected; see 'iseed dlq list --tenant acme'\n"; code != exitFailed || out != want {
		t.Fatalf("again: exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, exitFailed, want)
	}
	if took := time.Since(start); took > 15*time.Second { // the timeout's fallback says the same after 30 s
		t.Errorf("again: the outcome took %s: nothing more could come, it is wanted at once", took)
	}
}

// TestStatusAndTrackFormats reads a submitted submission back as a table
// and as JSON.
func TestStatusAndTrackFormats(t *testing.T) {
	startCLIDaemon(t)
	if out, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", "../../examples/isee.json"); code != 0 {
		t.Fatalf("submit --wait: exit %d, %q %q", code, out, errOut)
	}
	// --wait returns once the record says submitted; the event is stored
	// just after it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, _, _ := runCLI(t, "status", "emp-7781-isee-2026", "--tenant", "acme", "-o", "table")
		if strings.Contains(out, ` acme/emp-7781-isee-2026 submitted service="ISEE"`) || time.Now().After(deadline) {
			break
		}
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"status", "emp-7781-isee-2026", "--tenant", "acme", "-o", "table"},
			[]string{"submission        acme/emp-7781-isee-2026\n", "upstream request  ", "price 16.00 €", "\ntimeline:\n", "\nevents:\n", " acme/emp-7781-isee-2026 submitted service=\"ISEE\""}},
		{[]string{"status", "--tenant", "acme", "emp-7781-isee-2026", "-o", "json"}, []string{`"record": {`, `"events": [`}},
		{[]string{"track", "list", "-o", "table"}, []string{"TENANT  SUBMISSION", "acme    emp-7781-isee-2026"}},
		{[]string{"track", "list", "-o", "json"}, []string{`"id": "emp-7781-isee-2026"`, `"request_id": "`}},
		{[]string{"schemas", "show", "isee", "-o", "table"}, []string{"price", "$4", "codice_fiscale_persona_fisica", "true"}},
		{[]string{"schemas", "list", "-o", "json"}, []string{`"hash_visura": "6aa0789f5ba34684b2bc5ccf364f8929"`}},
		{[]string{"validate", "--schema", "testdata/isee.json", "--input", "testdata/invalid.json", "-o", "table"}, []string{"invalid, 7 problem(s)", "$2 (Email *) invalid_email: "}},
	}
	for _, tt := range tests {
		out, errOut, code := runCLI(t, tt.args...)
		wantCode := 0
		if tt.args[0] == "validate" {
			wantCode = 1
		}
		if code != wantCode {
			t.Errorf("%v: exit %d, stderr %q", tt.args, code, errOut)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: stdout %q lacks %q", tt.args, out, w)
			}
		}
	}
}

// TestSubmitWaitTimesOut: with nothing consuming, --wait gives up after
// --timeout with exit status 3.
func TestSubmitWaitTimesOut(t *testing.T) {
	srv := cliEnv(t)
	if _, err := layout.Ensure(context.Background(), srv.JS, layout.Layout{}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", "--timeout", "300ms", "../../examples/isee.json")
	want := "emp-7781-isee-2026\ntimed out: acme/emp-7781-isee-2026 is not yet picked up by iseed serve; follow it with 'iseed status --tenant acme emp-7781-isee-2026'\n"
	if code != 3 || out != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 3 and %q", code, out, errOut, want)
	}
}

// TestStatusOfAMalformedMessage: a malformed message has no record, but
// its dead letter and rejected event name its id: status points there.
func TestStatusOfAMalformedMessage(t *testing.T) {
	startCLIDaemon(t)
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	if _, err := js.Publish(context.Background(), "iseed.submissions.acme", []byte(`{"id":"mal-1","service":"ISEE"}`)); err != nil {
		t.Fatal(err)
	}
	seq := waitDeadLetters(t, 1)["mal-1"].Seq
	_, errOut, code := runCLI(t, "status", "--tenant", "acme", "mal-1")
	if want := fmt.Sprintf("dead-lettered (malformed) as dead letter %d; see 'iseed dlq show %d'", seq, seq); code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("status: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}
}

// TestSubmitDuplicateOfAnotherSubject: a message id another subject took
// first (someone published this event's id on another tenant's subject)
// drops the event: submit --wait says so at once instead of waiting for an
// outcome that cannot come. Without --wait, which works with a tenant's
// credentials (that may not read the stream), it says only that the event
// was dropped as a duplicate.
func TestSubmitDuplicateOfAnotherSubject(t *testing.T) {
	startCLIDaemon(t)
	event := eventFile(t, "taken-1", nil)
	data, err := os.ReadFile(event)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := consumer.DecodeSubmission(data)
	if err != nil {
		t.Fatal(err)
	}
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	m := nats.NewMsg("iseed.submissions.globex")
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, publisher.SubmissionMsgID("acme", sub.ID, sub.Fingerprint()))
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", "--timeout", "30s", event)
	if code != 1 || !strings.Contains(errOut, "another subject, took its message id") || time.Since(start) > 15*time.Second {
		t.Errorf("submit --wait: exit %d after %s, stderr %q; want 1 at once, saying the id was taken on another subject", code, time.Since(start), errOut)
	}
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", event); code != 0 || !strings.Contains(errOut, "dropped as a duplicate") {
		t.Errorf("submit: exit %d, stderr %q; want 0, saying the event was dropped as a duplicate", code, errOut)
	}
}

// TestSubmitWaitHeld says once, on standard error, that the submission is
// held by a cap, and keeps waiting. The cap's days end in capsZone: in
// Europe/Rome the second submission went on a new day's cap when the test
// straddled midnight there.
func TestSubmitWaitHeld(t *testing.T) {
	startCLIDaemonWith(t, inCapsZone)
	if _, errOut, code := runCLI(t, "budget", "set", "--tenant", "acme", "--daily-requests", "1"); code != 0 {
		t.Fatalf("budget set: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", eventFile(t, "cap-1", nil)); code != 0 {
		t.Fatalf("the first submission: exit %d, %s", code, errOut)
	}
	out, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", "--timeout", "3s", eventFile(t, "cap-2", nil))
	if code != exitTimeout || !strings.Contains(out, "cap-2 is held") || strings.Count(errOut, "held: ") != 1 || !strings.Contains(errOut, "when the cap allows it") {
		t.Errorf("exit %d, stdout %q, stderr %q; want %d, one note that it is held, and a time-out", code, out, errOut, exitTimeout)
	}
}

// TestStatusShowsAPendingAttempt: a POST whose answer was lost leaves the
// submission claimed with an attempt pending; the table must say so (and
// until when it reconciles), or an operator reading "claimed" may resubmit.
func TestStatusShowsAPendingAttempt(t *testing.T) {
	started := time.Date(2026, 12, 1, 15, 20, 57, 0, time.UTC)
	r := &record.Record{Tenant: "acme", ID: "amb-1", State: record.StateClaimed, Attempts: 1, Generation: 1,
		FirstFailure: started, LastFailure: started.Add(time.Minute),
		Pending: &record.Attempt{Started: started, Owner: "w/1", Until: started.Add(90 * time.Second), Settle: started.Add(15 * time.Minute)}}
	var b bytes.Buffer
	if err := printStatus(&b, r, nil, nil, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"attempt pending", "unanswered", "2026-12-01T15:35:57Z", "failures"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status of a submission reconciling a lost answer:\n%s\nwant %q in it", b.String(), want)
		}
	}
	r.Pending = &record.Attempt{Started: started, Owner: "w/2", Until: started.Add(time.Minute), Unsent: true}
	b.Reset()
	if err := printStatus(&b, r, nil, nil, false); err != nil || !strings.Contains(b.String(), "nothing sent yet") || strings.Contains(b.String(), "unanswered") {
		t.Errorf("status of a submission waiting for an upstream token: %v\n%s\nwant it to say nothing was sent yet", err, b.String())
	}
	// Failed ambiguous, the attempt is kept but nothing reconciles it any
	// more: "reconciling" there told an operator to wait for what never came.
	r.State, r.Reason = record.StateFailed, "ambiguous"
	r.Pending = &record.Attempt{Started: started, Owner: "w/1", Until: started.Add(90 * time.Second), Settle: started.Add(15 * time.Minute)}
	b.Reset()
	if err := printStatus(&b, r, nil, nil, false); err != nil || strings.Contains(b.String(), "reconciling") || !strings.Contains(b.String(), "not reconciled, failed ambiguous") {
		t.Errorf("status of a submission failed ambiguous: %v\n%s\nwant it not reconciled, failed ambiguous, not reconciling", err, b.String())
	}
	r.State, r.Reason = record.StateClaimed, ""
	r.Pending, r.RequestID = nil, "6b0e"
	b.Reset()
	if err := printStatus(&b, r, nil, nil, false); err != nil || strings.Contains(b.String(), "attempt pending") {
		t.Errorf("status without a pending attempt: %v\n%s", err, b.String())
	}
}
