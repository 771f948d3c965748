package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// ambiguousBesideAnOutsideRequest creates on d's simulator a request
// that iseed did not make, with the input of eventFile's submissions, then
// submits id (tenant acme) with its POST failing with a 500: nothing is
// created, but iseed cannot know, and the outside request is a candidate
// it cannot tell apart, so the submission is dead-lettered ambiguous. It
// returns the outside request and the letter.
func ambiguousBesideAnOutsideRequest(t *testing.T, d *daemon, id string) (*visengine.Richiesta, dlq.DeadLetter) {
	t.Helper()
	up, err := visengine.New(visengine.Config{BaseURL: d.sim.base, Token: d.sim.token})
	if err != nil {
		t.Fatal(err)
	}
	outside, err := up.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: sim.HashISEE, JSONVisura: map[string]string{
		"$0": "Maria", "$1": "Rossi", "$2": "maria.rossi@example.com", "$3": "3331234568", "$4": "RSSMRA80A41H501Y",
		"$5": "ci.pdf|data:application/pdf;base64,JVBERi0xLjQK", "$6": "cf.pdf|data:application/pdf;base64,JVBERi0xLjQK",
	}})
	if err != nil {
		t.Fatal(err)
	}
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1, Status: 500}}})
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)[id]
	if dl.Reason != dlq.ReasonAmbiguous {
		t.Fatalf("dead letter: got %+v, want reason ambiguous", dl)
	}
	return outside, dl
}

// TestAuditDisown: a POST's answer is lost while someone makes an ISEE
// request outside iseed. On the published profile nothing tells the two
// apart, so the submission is dead-lettered ambiguous, and replaying it
// unchanged finds the same request and is ambiguous again: the only way
// out was to purge the letter and have the tenant resubmit under a new
// id. `iseed audit disown` marks the request as not iseed's and replays
// the letter: reconciliation passes it by and sends the submission once.
func TestAuditDisown(t *testing.T) {
	t.Setenv("ISEED_SIM_PROFILE", "published")
	t.Setenv("ISEED_RECONCILE_SETTLE", "1s")
	t.Setenv("ISEED_ACK_WAIT", "2s")
	t.Setenv("ISEED_ADOPT_GRACE", "2s") // the least: the window for a claim of the outside request, 6 s by default
	d := startCLIDaemon(t)
	ctx := context.Background()
	const id = "disown-1"
	outside, dl := ambiguousBesideAnOutsideRequest(t, d, id)
	// Replayed unchanged, it meets the same request and is ambiguous again.
	if _, errOut, code := runCLI(t, "dlq", "replay", fmt.Sprint(dl.Seq)); code != 0 {
		t.Fatalf("dlq replay: exit %d, %s", code, errOut)
	}
	waitUntil(t, 30*time.Second, "the replay dead-lettered ambiguous again", func() bool {
		again := deadLetters(t)
		return len(again) == 1 && again[0].Seq != dl.Seq && again[0].Reason == dlq.ReasonAmbiguous
	})
	if _, errOut, code := runCLI(t, "audit", "disown", outside.ID, "--tenant", "other", "--submission", id); code == 0 || !strings.Contains(errOut, `no submission "disown-1" for tenant "other"`) {
		t.Errorf("disown for a submission that does not exist: exit %d, %s; want a refusal", code, errOut)
	}
	out, errOut, code := runCLI(t, "audit", "disown", outside.ID, "--tenant", "acme", "--submission", id)
	if code != 0 || !strings.Contains(out, "marked as not iseed's") {
		t.Fatalf("disown: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var rec *record.Record
	waitUntil(t, 30*time.Second, "the submission sent", func() bool {
		r, _, err := record.NewStore(d.res.Records).Get(ctx, "acme", id)
		rec = r
		// Sent: it has its request. Not "State is submitted": the
		// simulator's request is in erogazione at once, and tracking's
		// first poll can move the record on between two reads.
		return err == nil && r.RequestID != ""
	})
	if rec.RequestID == outside.ID {
		t.Errorf("the submission adopted the disowned request %s", outside.ID)
	}
	if got := d.sim.sim.Counters()["created"]; got != 2 {
		t.Errorf("upstream requests: got %d, want 2 (the one made outside, then the submission's)", got)
	}
	owner, _, err := record.LeaderGet(ctx, d.js, d.res.Layout.RequestsBucket(), record.IndexKey(outside.ID))
	if key, ok := record.DisownedFor(string(owner)); err != nil || !ok || key != record.Key("acme", id) {
		t.Errorf("request index entry of %s: %q (%v); want it disowned for acme.%s", outside.ID, owner, err, id)
	}
	// It is no longer the submission's to disown or adopt.
	if _, errOut, code := runCLI(t, "audit", "adopt", outside.ID, "--tenant", "acme", "--submission", id); code == 0 || !strings.Contains(errOut, "only a submission failed as ambiguous") {
		t.Errorf("adopt after the submission was sent: exit %d, %s; want a refusal", code, errOut)
	}
}

// TestAuditRespectsAnAnsweredRequest: a submission failed as ambiguous
// whose record keeps the request id an earlier POST got back and could not
// index (record.Attempt.Answered): that request is the submission's. audit
// disown of it would have the submission sent again, paid twice, and audit
// adopt of another would hand the submission a request it did not make:
// both are refused, naming the replay that adopts it.
func TestAuditRespectsAnAnsweredRequest(t *testing.T) {
	d := startCLIDaemon(t)
	ctx := context.Background()
	answered, other := createBehind(t, d), createBehind(t, d)
	now := time.Now()
	rec := &record.Record{Tenant: "acme", ID: "answered-1", Generation: 1, Attempts: 1, Service: "ISEE", Created: now,
		Reason: dlq.ReasonAmbiguous, Pending: &record.Attempt{Started: now, Owner: "gone", Until: now, Answered: answered}}
	rec.To(record.StateFailed, now, dlq.ReasonAmbiguous)
	if _, err := record.NewStore(d.res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ verb, request string }{{"disown", answered}, {"adopt", other}} {
		_, errOut, code := runCLI(t, "audit", tt.verb, tt.request, "--tenant", "acme", "--submission", "answered-1")
		if code == 0 || !strings.Contains(errOut, "got request "+answered+" back") {
			t.Errorf("audit %s %s: exit %d, %s; want a refusal naming %s", tt.verb, tt.request, code, errOut, answered)
		}
	}
	if _, err := d.res.Requests.Get(ctx, record.IndexKey(answered)); err == nil {
		t.Errorf("the request index has %s after the refusals", answered)
	}
}

// TestAuditDisownsAKeptRequestTheUpstreamDoesNotKnow: a submission keeps
// the id an earlier POST got back, and the upstream answers 404 for it: the
// delivery fails it ambiguous, the id still kept. A replay meets the same
// 404, and audit disown of the id was refused like that of a request the
// upstream has: nothing but a purge decided the submission. A person who
// finds no such request in the Openapi console disowns it, and the
// submission is sent once.
func TestAuditDisownsAKeptRequestTheUpstreamDoesNotKnow(t *testing.T) {
	t.Setenv("ISEED_RECONCILE_SETTLE", "1s")
	t.Setenv("ISEED_ACK_WAIT", "2s")
	d := startCLIDaemon(t)
	ctx := context.Background()
	const id, gone = "kept-404", "5f2829ce065afc21cc6000ff"
	path := eventFile(t, id, nil)
	payload, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := consumer.DecodeSubmission(payload)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	rec := &record.Record{Tenant: "acme", ID: id, Fingerprint: sub.Fingerprint(), Generation: 1, Attempts: 1, Service: "ISEE",
		ServiceHash: sim.HashISEE, Created: past, Updated: past,
		Pending: &record.Attempt{Started: past, Owner: "gone", Until: past.Add(time.Second), Answered: gone}}
	rec.To(record.StateClaimed, past, "")
	if _, err := record.NewStore(d.res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", path); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	if dl := waitDeadLetters(t, 1)[id]; dl.Reason != dlq.ReasonAmbiguous {
		t.Fatalf("dead letter: got %+v, want reason ambiguous", dl)
	}
	out, errOut, code := runCLI(t, "audit", "disown", gone, "--tenant", "acme", "--submission", id)
	if code != 0 || !strings.Contains(out, "marked as not iseed's") {
		t.Fatalf("disown of a kept id the upstream does not know: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	waitUntil(t, 30*time.Second, "the submission sent", func() bool {
		r, _, err := record.NewStore(d.res.Records).Get(ctx, "acme", id)
		return err == nil && r.RequestID != ""
	})
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}
