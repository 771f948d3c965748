package dlq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// queueWith stores dead letters (tenant/id/reason each) on a fresh server
// and returns the queue and them as List reads them.
func queueWith(t testing.TB, letters ...[3]string) (*Queue, []DeadLetter) {
	t.Helper()
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range letters {
		dl := DeadLetter{OriginalSubject: res.Layout.SubmissionSubject(l[0]), StreamSeq: uint64(i + 1), Tenant: l[0],
			SubmissionID: l[1], Reason: l[2], Error: "e", Generation: 1}
		payload := fmt.Appendf(nil, `{"id":%q,"service":"ISEE","fields":{"$0":"Mario"}}`, l[1])
		if err := Publish(ctx, srv.JS, res.Layout, dl, payload, MsgID(l[0], l[1], 1, l[2])); err != nil {
			t.Fatal(err)
		}
	}
	q := NewQueue(srv.JS, res, []byte("0123456789abcdef0123456789abcdef"), nil)
	all, err := q.List(ctx, Filter{})
	if err != nil || len(all) != len(letters) {
		t.Fatalf("List: got %d dead letters (%v), want %d", len(all), err, len(letters))
	}
	return q, all
}

func TestQueueListFilters(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "a1", ReasonInvalid}, [3]string{"globex", "g1", ReasonExpired},
		[3]string{"acme", "a2", ReasonExpired}, [3]string{"acme", "a3", ReasonInvalid}, [3]string{"globex", "g2", ""})
	if !all[1].Stored.After(all[0].Stored) && !all[1].Stored.Equal(all[0].Stored) {
		t.Fatalf("stored times out of order: %v", all)
	}
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "a1 g1 a2 a3 g2"},
		{"tenant", Filter{Tenant: "acme"}, "a1 a2 a3"},
		{"reason", Filter{Reason: ReasonExpired}, "g1 a2"},
		{"no reason, as the overview counts it", Filter{Reason: ReasonUnknown}, "g2"},
		{"tenant and reason", Filter{Tenant: "acme", Reason: ReasonInvalid}, "a1 a3"},
		{"since", Filter{Since: all[2].Stored}, "a2 a3 g2"},
		{"until", Filter{Until: all[1].Stored}, "a1 g1"},
		{"since and until", Filter{Since: all[1].Stored, Until: all[2].Stored}, "g1 a2"},
		{"since after the last", Filter{Since: all[4].Stored.Add(time.Second)}, ""},
		{"limit", Filter{Tenant: "acme", Limit: 2}, "a1 a2"},
		{"no such tenant", Filter{Tenant: "initech"}, ""},
		{"submission", Filter{Tenant: "acme", Submission: "a2"}, "a2"},
		{"no such submission", Filter{Tenant: "acme", Submission: "g1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := q.List(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			ids := ""
			for i, d := range got {
				if i > 0 {
					ids += " "
				}
				ids += d.SubmissionID
			}
			if ids != tt.want {
				t.Errorf("got %q, want %q", ids, tt.want)
			}
		})
	}
}

func TestQueueGetPurgeNotFound(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "a1", ReasonInvalid}, [3]string{"acme", "a2", ReasonExpired})
	ctx := context.Background()
	l, err := q.Get(ctx, all[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	if l.SubmissionID != "a1" || l.Reason != ReasonInvalid || l.Stored.IsZero() || l.Header.Get(HeaderTenant) != "acme" ||
		string(l.Payload) != `{"id":"a1","service":"ISEE","fields":{"$0":"Mario"}}` {
		t.Errorf("Get: got %+v, payload %s", l.DeadLetter, l.Payload)
	}
	if err := q.Purge(ctx, all[0].Seq); err != nil {
		t.Fatal(err)
	}
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"get purged", func() error { _, err := q.Get(ctx, all[0].Seq); return err }},
		{"purge again", func() error { return q.Purge(ctx, all[0].Seq) }},
		{"replay purged", func() error { return q.Replay(ctx, all[0].Seq) }},
		{"get never stored", func() error { _, err := q.Get(ctx, 99); return err }},
		{"replay never stored", func() error { return q.ReplayWith(ctx, 99, []byte(`{}`)) }},
	} {
		if err := op.do(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", op.name, err)
		}
	}
	if rest, _ := q.List(ctx, Filter{}); len(rest) != 1 || rest[0].SubmissionID != "a2" {
		t.Errorf("after purging a1: got %v, want a2 alone", rest)
	}
}

func TestCheckReplayAndEdit(t *testing.T) {
	tests := []struct {
		reason         string
		replay, edited bool // allowed
	}{
		{ReasonInvalid, false, true},
		{ReasonMalformed, false, true},
		{ReasonConflict, false, true},
		{ReasonInsufficientCredit, true, true},
		{ReasonUpstreamRejected, true, true},
		{ReasonExpired, true, true},
		{ReasonMaxDeliveries, true, true},
		{ReasonPriorISEE, true, true},
		{ReasonAmbiguous, true, false},
		{ReasonGaveUp, true, false},
	}
	for _, tt := range tests {
		dl := DeadLetter{Seq: 7, Reason: tt.reason}
		err := CheckReplay(dl)
		var re *RefusedError
		if (err == nil) != tt.replay || (err != nil && (!errors.As(err, &re) || re.Advice == "" || re.Seq != 7)) {
			t.Errorf("CheckReplay(%s): got %v, want allowed=%v with advice when refused", tt.reason, err, tt.replay)
		}
		if err := CheckEdit(dl, false); (err == nil) != tt.edited {
			t.Errorf("CheckEdit(%s): got %v, want allowed=%v", tt.reason, err, tt.edited)
		}
		// A POST in doubt: only the letter's own payload can be reconciled
		// (a conflict's record is another payload's).
		if err := CheckEdit(dl, true); (err == nil) != (tt.reason == ReasonConflict) {
			t.Errorf("CheckEdit(%s) with a POST in doubt: got %v, want allowed=%v", tt.reason, err, tt.reason == ReasonConflict)
		}
	}
}

// TestCheckReopen: a letter whose replay would reopen nothing is refused,
// saying so and to purge it: a gave_up letter whose submission is closed
// otherwise than by its give-up (completed: the upstream's completion
// overrode it), a submission's letter whose submission has its request by
// now or was reopened by that letter already, or is open again (claimed
// or held: another letter's replay reopened it). A gave_up letter whose
// submission still failed with gave_up or is open, a letter without a
// record, and a conflict's, pass. A malformed message's passes unless its
// payload is its submission's recorded one (the same fingerprint): then it
// is that submission's letter, and judged as one; it used to pass whatever
// the record said.
func TestCheckReopen(t *testing.T) {
	final := &record.DocumentRef{Stato: visengine.StateFulfilled}
	replayed := &record.Record{State: record.StateFailed, Reason: ReasonUpstreamRejected, Generation: 2}
	replayed.AddReplay(7, time.Now())
	sent := &record.Record{State: record.StateSubmitted, RequestID: "req-1"}
	gaveUpAgain := &record.Record{State: record.StateFailed, Reason: ReasonGaveUp, RequestID: "req-1"}
	gaveUpAgain.AddReplay(7, time.Now())
	ownReplayed := &record.Record{State: record.StateFailed, Reason: ReasonUpstreamRejected, Generation: 2, Fingerprint: "fp-1"}
	ownReplayed.AddReplay(7, time.Now())
	tests := []struct {
		name   string
		reason string
		rec    *record.Record
		why    string // "" when it passes
		fp     string // the letter's payload's fingerprint; "" when it is not a submission
	}{
		{"completed", ReasonGaveUp, &record.Record{State: record.StateCompleted, Document: final}, "completed: nothing to reopen", ""},
		{"still gave up", ReasonGaveUp, &record.Record{State: record.StateFailed, Reason: ReasonGaveUp}, "", ""},
		{"open again", ReasonGaveUp, &record.Record{State: record.StateSubmitted, RequestID: "req-1"}, "", ""},
		{"no record", ReasonGaveUp, nil, "", ""},
		{"gave up again, reopened by it already", ReasonGaveUp, gaveUpAgain, "reopened the submission once already", ""},
		{"a submission's, still failed", ReasonUpstreamRejected, &record.Record{State: record.StateFailed, Reason: ReasonUpstreamRejected}, "", ""},
		{"a submission's, sent by now", ReasonExpired, sent, "upstream request req-1", ""},
		{"a submission's, reopened by it already", ReasonUpstreamRejected, replayed, "reopened the submission once already", ""},
		{"a submission's, no record", ReasonAmbiguous, nil, "", ""},
		{"a submission's, on its way again", ReasonUpstreamRejected, &record.Record{State: record.StateClaimed, Generation: 2,
			Pending: &record.Attempt{Until: time.Now().Add(time.Minute)}}, "the submission is claimed", ""},
		// Its delivery may be gone for good (its message lost with its
		// max_deliveries advisory): only a replay resumes it.
		{"a submission's, claimed under a lease that has ended", ReasonUpstreamRejected, &record.Record{State: record.StateClaimed, Generation: 2,
			Pending: &record.Attempt{Until: time.Now().Add(-time.Minute)}}, "", ""},
		{"a submission's, claimed without a lease", ReasonUpstreamRejected, &record.Record{State: record.StateClaimed, Generation: 2}, "", ""},
		{"a submission's, held again", ReasonExpired, &record.Record{State: record.StateHeld, Generation: 2}, "the submission is held", ""},
		{"withdrawn by its producer while held", ReasonWithdrawn, &record.Record{State: record.StateFailed, Reason: ReasonWithdrawn,
			CancelRequested: time.Now(), CancelledBy: record.CancelledByTenant}, "its producer withdrew the submission", ""},
		{"withdrawn by its producer after it failed", ReasonUpstreamRejected, &record.Record{State: record.StateFailed, Reason: ReasonUpstreamRejected,
			CancelRequested: time.Now(), CancelledBy: record.CancelledByTenant}, "its producer withdrew the submission", ""},
		{"withdrawn by its producer after it was rejected", ReasonPriorISEE, &record.Record{State: record.StateRejected, Reason: ReasonPriorISEE,
			CancelRequested: time.Now(), CancelledBy: record.CancelledByTenant}, "its producer withdrew the submission", ""},
		{"cancelled by an operator", ReasonCancelledByOperator, &record.Record{State: record.StateFailed, Reason: ReasonCancelledByOperator,
			CancelRequested: time.Now()}, "", ""},
		{"a conflict's: the record is another payload's", ReasonConflict, sent, "", ""},
		{"a malformed message's", ReasonMalformed, sent, "", ""},
		{"a malformed message's: the record is another payload's", ReasonMalformed,
			&record.Record{State: record.StateSubmitted, RequestID: "req-1", Fingerprint: "fp-2"}, "", "fp-1"},
		{"a wrong id's: the record is its payload's, sent by now", ReasonMalformed,
			&record.Record{State: record.StateSubmitted, RequestID: "req-1", Fingerprint: "fp-1"}, "upstream request req-1", "fp-1"},
		{"a wrong id's: the record is its payload's, on its way", ReasonMalformed, &record.Record{State: record.StateClaimed, Generation: 1,
			Fingerprint: "fp-1", Pending: &record.Attempt{Until: time.Now().Add(time.Minute)}}, "the submission is claimed", "fp-1"},
		{"a wrong id's: the record is its payload's, held", ReasonMalformed,
			&record.Record{State: record.StateHeld, Fingerprint: "fp-1"}, "the submission is held", "fp-1"},
		{"a wrong id's: the record is its payload's, reopened by it already", ReasonMalformed, ownReplayed, "reopened the submission once already", "fp-1"},
		{"a wrong id's: the record is its payload's, failed", ReasonMalformed,
			&record.Record{State: record.StateFailed, Reason: ReasonUpstreamRejected, Fingerprint: "fp-1"}, "", "fp-1"},
	}
	for _, tt := range tests {
		err := CheckReopen(DeadLetter{Seq: 7, Reason: tt.reason}, tt.fp, tt.rec, time.Now())
		var re *RefusedError
		if (err != nil) != (tt.why != "") || (err != nil && (!errors.As(err, &re) || !strings.Contains(re.Why, tt.why) ||
			!strings.Contains(re.Advice, "iseed dlq purge 7"))) {
			t.Errorf("%s: got %v, want refused %v (%q), saying why and to purge", tt.name, err, tt.why != "", tt.why)
		}
	}
}

// TestTenantAsked: the tenant's asking overrides only the refusal of a
// letter whose submission its producer withdrew, never another.
func TestTenantAsked(t *testing.T) {
	withdrawn := &record.Record{State: record.StateFailed, Reason: ReasonUpstreamRejected, CancelRequested: time.Now(), CancelledBy: record.CancelledByTenant}
	sent := &record.Record{State: record.StateSubmitted, RequestID: "req-1"}
	if err := TenantAsked(CheckReopen(DeadLetter{Seq: 7, Reason: ReasonUpstreamRejected}, "", withdrawn, time.Now())); err != nil {
		t.Errorf("a withdrawn submission's letter, the tenant asking: %v, want it let through", err)
	}
	if err := TenantAsked(CheckReopen(DeadLetter{Seq: 7, Reason: ReasonExpired}, "", sent, time.Now())); err == nil {
		t.Errorf("a sent submission's letter, the tenant asking: let through, want it still refused")
	}
	if err := TenantAsked(CheckReplay(DeadLetter{Seq: 7, Reason: ReasonInvalid})); err == nil {
		t.Errorf("an invalid letter, the tenant asking: let through, want it still refused")
	}
}

// TestCheckPlainReplay: a letter whose payload is another submission than
// its record's, which takes a correction (failed or rejected, no request,
// no POST in doubt), is refused a plain replay: the pipeline would refuse
// it as a conflict (an older one sent it in place of the recorded one).
// The refusal names the explicit way. Its
// own payload, another that the record does not take (a conflict then,
// nothing sent), no record, a conflict's or a gave_up letter pass here.
func TestCheckPlainReplay(t *testing.T) {
	rejected := func(fp string) *record.Record {
		return &record.Record{ID: "emp-1", State: record.StateRejected, Reason: ReasonInvalid, Fingerprint: fp}
	}
	reopened := rejected("fp-2")
	reopened.AddReplay(7, time.Now())
	inDoubt := &record.Record{ID: "emp-1", State: record.StateFailed, Reason: ReasonAmbiguous, Fingerprint: "fp-2",
		Pending: &record.Attempt{Until: time.Now().Add(-time.Minute)}}
	tests := []struct {
		name    string
		reason  string
		rec     *record.Record
		fp      string
		refused bool
	}{
		{"a malformed letter of another payload, rejected", ReasonMalformed, rejected("fp-2"), "fp-1", true},
		{"a malformed letter of another payload, failed", ReasonMalformed,
			&record.Record{ID: "emp-1", State: record.StateFailed, Reason: ReasonUpstreamRejected, Fingerprint: "fp-2"}, "fp-1", true},
		{"a letter stored before the record, of another payload", ReasonExpired, rejected("fp-2"), "fp-1", true},
		{"its own payload", ReasonMalformed, rejected("fp-1"), "fp-1", false},
		{"not a submission", ReasonMalformed, rejected("fp-2"), "", false},
		{"no record", ReasonMalformed, nil, "fp-1", false},
		{"sent: a conflict", ReasonMalformed, &record.Record{ID: "emp-1", State: record.StateSubmitted, RequestID: "req-1", Fingerprint: "fp-2"}, "fp-1", false},
		{"a POST in doubt: a conflict", ReasonMalformed, inDoubt, "fp-1", false},
		{"on its way: a conflict", ReasonMalformed, &record.Record{ID: "emp-1", State: record.StateClaimed, Fingerprint: "fp-2"}, "fp-1", false},
		{"reopened by it already: a conflict", ReasonMalformed, reopened, "fp-1", false},
		{"a conflict's", ReasonConflict, rejected("fp-2"), "fp-1", false},
		{"a gave_up letter's", ReasonGaveUp, rejected("fp-2"), "fp-1", false},
	}
	for _, tt := range tests {
		err := CheckPlainReplay(DeadLetter{Seq: 7, Reason: tt.reason}, tt.fp, tt.rec)
		var re *RefusedError
		if (err != nil) != tt.refused || (err != nil && (!errors.As(err, &re) || !strings.Contains(re.Why, "in place of the recorded one") ||
			!strings.Contains(re.Advice, "iseed dlq replay --edit 7") || !strings.Contains(re.Advice, "--payload FILE 7"))) {
			t.Errorf("%s: got %v, want refused %v, saying why and naming --edit and --payload", tt.name, err, tt.refused)
		}
	}
}

// TestCheckReopenJudgesALeaseByTheServersClock: the lease of the delivery
// working on a reopened submission is written on the pipeline's clock,
// the NATS server's; the check judges it by that clock, not by the
// operator's machine. One minutes ahead let a replay through during a
// live lease (the replay waited behind it and, if that delivery failed
// the submission again, reopened it for an attempt nobody asked for);
// one minutes behind refused a letter whose lease had ended.
func TestCheckReopenJudgesALeaseByTheServersClock(t *testing.T) {
	tests := []struct {
		name  string
		skew  time.Duration // of the operator's clock
		until time.Duration // the lease's end, from the server's now
		why   string        // "" when it passes
	}{
		{"the operator's clock ahead, the lease live", 10 * time.Minute, time.Minute, "the submission is claimed"},
		{"the operator's clock behind, the lease ended", -10 * time.Minute, -time.Minute, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected})
			q.local = func() time.Time { return time.Now().Add(tt.skew) }
			// The embedded server's clock is this machine's.
			now := time.Now()
			rec := &record.Record{Tenant: "acme", ID: "emp-1", State: record.StateClaimed, Generation: 2,
				Pending: &record.Attempt{Started: now.Add(tt.until - time.Minute), Owner: "another-delivery/1", Until: now.Add(tt.until)}}
			rec.AddReplay(all[0].Seq+1000, now) // another letter of it reopened it
			refused, err := q.CheckReopen(context.Background(), all[0], "", rec)
			if err != nil {
				t.Fatal(err)
			}
			var re *RefusedError
			if (refused != nil) != (tt.why != "") || (refused != nil && (!errors.As(refused, &re) || !strings.Contains(re.Why, tt.why))) {
				t.Errorf("got %v, want refused %v (%q)", refused, tt.why != "", tt.why)
			}
		})
	}
}

// gaveUpLetter stores the gave_up dead letter of acme/emp-1's tracking
// task at seq of the tracking stream, and returns a queue that signs
// replays, its one letter, and the tracking stream.
func gaveUpLetter(t *testing.T, srv *natstest.Server, res *layout.Resources, seq uint64) (*Queue, []DeadLetter, jetstream.Stream) {
	t.Helper()
	ctx := context.Background()
	dl := DeadLetter{OriginalSubject: res.Layout.TrackSubject("acme", "emp-1"), StreamSeq: seq, Tenant: "acme", SubmissionID: "emp-1",
		Reason: ReasonGaveUp, Error: "e", Generation: 1}
	if err := Publish(ctx, srv.JS, res.Layout, dl, []byte(`{"task":1}`), MsgID("acme", "emp-1", 1, ReasonGaveUp)); err != nil {
		t.Fatal(err)
	}
	q := NewQueue(srv.JS, res, []byte("0123456789abcdef0123456789abcdef"), nil)
	all, err := q.List(ctx, Filter{})
	if err != nil || len(all) != 1 {
		t.Fatalf("List: %v, %v", all, err)
	}
	track, err := srv.JS.Stream(ctx, res.Layout.TrackStream())
	if err != nil {
		t.Fatal(err)
	}
	return q, all, track
}

// TestReplayWaitsForTheTaskItReplaces: a gave_up dead letter goes back to
// the tracking stream, which keeps one task per subject; while the old task
// is still there (the tracker dead-letters before it acknowledges), the
// stream refuses the replay, and Replay tries again until the old task is
// gone instead of failing the operator's command.
func TestReplayWaitsForTheTaskItReplaces(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	subject := res.Layout.TrackSubject("acme", "emp-1")
	old, err := srv.JS.Publish(ctx, subject, []byte(`{"old":true}`))
	if err != nil {
		t.Fatal(err)
	}
	q, all, track := gaveUpLetter(t, srv, res, old.Sequence)
	done := make(chan error, 1)
	go func() { done <- q.Replay(ctx, all[0].Seq) }()
	select {
	case err := <-done:
		t.Fatalf("Replay returned %v while the old task was still there: want it to wait", err)
	case <-time.After(300 * time.Millisecond): // the stream refuses meanwhile; then the tracker acknowledges
	}
	if err := track.DeleteMsg(ctx, old.Sequence); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Replay: %v", err)
	}
	m, err := track.GetLastMsgForSubject(ctx, subject)
	if err != nil || string(m.Data) != `{"task":1}` {
		t.Fatalf("the tracking subject holds %v (%v), want the replayed task", m, err)
	}
}

// TestReplayRefusesForgedLetters: a message someone else put on a DLQ
// subject is not signed and sent on: not without iseed's headers, not to
// another tenant, not into iseed's own streams. iseed's own letters, a
// submission's and a tracker's, pass.
func TestReplayRefusesForgedLetters(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected})
	ctx := context.Background()
	l := q.layout
	forge := func(subject, tenant, id, original string) uint64 {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data = []byte(`{"id":"emp-9","service":"ISEE","fields":{}}`)
		if original != "" {
			m.Header.Set(HeaderOriginalSubject, original)
			m.Header.Set(HeaderTenant, tenant)
			m.Header.Set(HeaderSubmissionID, id)
			m.Header.Set(HeaderReason, ReasonUpstreamRejected)
		}
		ack, err := q.js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	tests := []struct {
		name string
		seq  uint64
		why  string // "" when the replay goes through
	}{
		{"iseed's own", all[0].Seq, ""},
		{"no headers", forge(l.DLQSubject("acme", "emp-9"), "", "", ""), "none of the headers"},
		{"another tenant's submissions", forge(l.DLQSubject("acme", "emp-9"), "acme", "emp-9", l.SubmissionSubject("globex")), "not tenant \"acme\"'s"},
		{"headers of another tenant than its subject", forge(l.DLQSubject("acme", "emp-9"), "globex", "emp-9", l.SubmissionSubject("globex")), "iseed did not store it"},
		{"into the events", forge(l.DLQSubject("acme", "emp-9"), "acme", "emp-9", "iseed.status.acme.emp-9"), "not tenant \"acme\"'s"},
		{"a tracker's", forge(l.DLQSubject("acme", "emp-9"), "acme", "emp-9", l.TrackSubject("acme", "emp-9")), ""},
		{"one whose id could not be read", forge(l.DLQSubject("acme", "_seq7"), "acme", "", l.SubmissionSubject("acme")), ""},
		{"one whose id could not be read, of another tenant", forge(l.DLQSubject("globex", "_seq7"), "acme", "", l.SubmissionSubject("acme")), "iseed did not store it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := q.Replay(ctx, tt.seq)
			var re *RefusedError
			switch {
			case tt.why == "" && err != nil:
				t.Errorf("Replay: %v, want it replayed", err)
			case tt.why != "" && (!errors.As(err, &re) || !strings.Contains(re.Why, tt.why)):
				t.Errorf("Replay: %v, want it refused: %s", err, tt.why)
			}
		})
	}
}

// TestPurgeErasesThePayload: a purged dead letter is gone from the DLQ's
// files on disk, not only marked deleted (its payload is a person's data,
// and "purge" is what an operator runs for good).
func TestPurgeErasesThePayload(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	const marker = "Zebedeo Quintilio RSSMRA80A01H501U"
	dl := DeadLetter{OriginalSubject: res.Layout.SubmissionSubject("acme"), StreamSeq: 1, Tenant: "acme",
		SubmissionID: "a1", Reason: ReasonInvalid, Error: "e", Generation: 1}
	payload := []byte(`{"id":"a1","service":"ISEE","fields":{"$0":"` + marker + `"}}`)
	if err := Publish(ctx, srv.JS, res.Layout, dl, payload, MsgID("acme", "a1", 1, ReasonInvalid)); err != nil {
		t.Fatal(err)
	}
	other := dl // a letter after it, so that the purge does not empty its block
	other.SubmissionID, other.StreamSeq = "a2", 2
	if err := Publish(ctx, srv.JS, res.Layout, other, []byte(`{"id":"a2"}`), MsgID("acme", "a2", 1, ReasonInvalid)); err != nil {
		t.Fatal(err)
	}
	q := NewQueue(srv.JS, res, nil, nil)
	all, err := q.List(ctx, Filter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("List: %v, %v", all, err)
	}
	dir := filepath.Join(srv.Opts.StoreDir, "jetstream")
	if files := holding(t, dir, marker); len(files) == 0 {
		t.Fatalf("the payload is in no file under %s before the purge: the check below would prove nothing", dir)
	}
	if err := q.Purge(ctx, all[0].Seq); err != nil {
		t.Fatal(err)
	}
	if files := holding(t, dir, marker); len(files) != 0 {
		t.Errorf("after the purge the payload is still on disk in %v", files)
	}
}

// holding lists the files under dir that contain s.
func holding(t *testing.T, dir, s string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(s)) {
			found = append(found, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestPlaceholdersAreNoSubmissionsNames: a dead letter whose tenant or id
// cannot be read is stored under a placeholder no real tenant or id can
// be, so the dead letters of a submission named like one (`_seq1` was the
// old placeholder) never include it.
func TestPlaceholdersAreNoSubmissionsNames(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range []DeadLetter{
		{OriginalSubject: res.Layout.SubmissionSubject("acme"), StreamSeq: 1, Tenant: "acme", Reason: ReasonMalformed},
		{OriginalSubject: res.Layout.SubmissionSubject("x"), StreamSeq: 2, Tenant: "bad tenant", Reason: ReasonMalformed},
	} {
		if err := Publish(ctx, srv.JS, res.Layout, dl, []byte("{"), MsgIDOfMessage("S", dl.StreamSeq)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{PlaceholderTenant, PlaceholderID(1)} {
		if record.ValidToken(name) {
			t.Errorf("placeholder %q is a valid tenant or submission id", name)
		}
	}
	for _, subject := range []string{res.Layout.DLQSubject("acme", "_seq1"), res.Layout.DLQSubject("_unknown", "_seq2")} {
		if _, err := res.DLQ.GetLastMsgForSubject(ctx, subject); err == nil {
			t.Errorf("a malformed message's dead letter is on %s, where a real submission's go", subject)
		}
	}
	if _, err := res.DLQ.GetLastMsgForSubject(ctx, res.Layout.DLQSubject(PlaceholderTenant, PlaceholderID(2))); err != nil {
		t.Errorf("the dead letter of a message with no readable tenant: %v", err)
	}
}

// interruptAfterPublish is an operator's interrupt (Ctrl-C) that arrives
// the moment a replay's publish has landed.
type interruptAfterPublish struct {
	jetstream.JetStream
	cancel context.CancelFunc
}

func (j interruptAfterPublish) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := j.JetStream.PublishMsg(ctx, m, opts...)
	j.cancel()
	return ack, err
}

// TestReplayInterruptedAfterItsPublish: an interrupt that comes once the
// replay is published still removes its dead letter, so that "run it
// again" (iseed dlq replay's promise: replayed letters are gone, the rest
// are still there) does not replay it a second time. The removal used the
// cancelled context: the letter stayed, replayed and still listed.
func TestReplayInterruptedAfterItsPublish(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q.js = interruptAfterPublish{JetStream: q.js, cancel: cancel}
	err := q.Replay(ctx, all[0].Seq)
	if left, lerr := q.List(context.Background(), Filter{}); lerr != nil || len(left) != 0 {
		t.Errorf("after a replay interrupted once published (%v): dead letters %+v (%v), want none", err, left, lerr)
	}
	subs, serr := q.js.Stream(context.Background(), q.layout.SubmissionsStream())
	if serr != nil {
		t.Fatal(serr)
	}
	if m, gerr := subs.GetLastMsgForSubject(context.Background(), q.layout.SubmissionSubject("acme")); gerr != nil || m.Header.Get(ReplayHeader) == "" {
		t.Errorf("the replay is not in the submissions stream: %v, %v", m, gerr)
	}
	if err != nil {
		t.Errorf("Replay: got %v, want nil: it was published and its dead letter removed", err)
	}
}

// stallingStream is the DLQ stream of a server too slow to answer a
// fetch within List's wait: the fetch numbered at, for stalls fetches.
type stallingStream struct {
	jetstream.Stream
	at, stalls int
}

func (s stallingStream) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	c, err := s.Stream.OrderedConsumer(ctx, cfg)
	return &stallingConsumer{Consumer: c, at: s.at, stalls: s.stalls}, err
}

type stallingConsumer struct {
	jetstream.Consumer
	at, stalls, calls int
}

func (c *stallingConsumer) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	if c.calls++; c.calls >= c.at && c.calls < c.at+c.stalls {
		return noMessages{}, nil
	}
	return c.Consumer.Fetch(batch, opts...)
}

// noMessages is a fetch whose wait ran out before anything came.
type noMessages struct{}

func (noMessages) Messages() <-chan jetstream.Msg {
	ch := make(chan jetstream.Msg)
	close(ch)
	return ch
}

func (noMessages) Error() error { return nil }

// TestListDoesNotPassAStallForTheEnd: a fetch that times out while dead
// letters remain to be read is an error, not the end of the list: replay
// and purge by filter act on what List returns, and an operator told
// "of 1 dead letter(s): 1 replayed" (exit 0) would take the rest for done.
func TestListDoesNotPassAStallForTheEnd(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "a1", ReasonExpired}, [3]string{"acme", "a2", ReasonExpired}, [3]string{"acme", "a3", ReasonExpired})
	stream := q.stream
	for _, tt := range []struct{ at, stalls int }{{1, 1}, {2, 1}, {1, 5}, {2, 5}} {
		q.stream, q.listBatch = stallingStream{Stream: stream, at: tt.at, stalls: tt.stalls}, 1 // a fetch a letter
		got, err := q.List(context.Background(), Filter{})
		if err == nil && len(got) != len(all) {
			t.Errorf("List with fetch %d stalled %d times: got %d dead letters and no error, want all %d or an error", tt.at, tt.stalls, len(got), len(all))
		}
	}
}

// TestListSinceDoesNotPassAStallForTheEnd: with --since, a first fetch
// that times out while letters stored since then remain to be read is an
// error too, not an empty list: replay and purge by --since said "no dead
// letters match" (exit 0) of letters there were. A tenant with no letter
// since then is an empty list at once, whatever other tenants have.
func TestListSinceDoesNotPassAStallForTheEnd(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "a1", ReasonExpired}, [3]string{"globex", "g1", ReasonExpired}, [3]string{"acme", "a3", ReasonExpired})
	stream := q.stream
	for _, f := range []Filter{{Since: all[0].Stored}, {Since: all[1].Stored, Tenant: "acme"}, {Since: all[2].Stored, Reason: ReasonExpired}} {
		for _, tt := range []struct{ at, stalls int }{{1, 1}, {1, 5}} {
			q.stream, q.listBatch = stallingStream{Stream: stream, at: tt.at, stalls: tt.stalls}, 1
			got, err := q.List(context.Background(), f)
			if err == nil && len(got) == 0 {
				t.Errorf("List %+v with fetch %d stalled %d times: got no dead letters and no error, want some or an error", f, tt.at, tt.stalls)
			}
		}
	}
	q.stream = stream
	if got, err := q.List(context.Background(), Filter{Tenant: "globex", Since: all[2].Stored}); err != nil || len(got) != 0 {
		t.Errorf("List of a tenant with no letter since: got %+v (%v), want none", got, err)
	}
}

// removedMeanwhile is a DLQ stream where someone else removes a letter
// just before each removal: an operator's purge, or the tracker
// withdrawing an overridden give-up's letter.
type removedMeanwhile struct{ jetstream.Stream }

func (s removedMeanwhile) SecureDeleteMsg(ctx context.Context, seq uint64) error {
	if err := s.Stream.SecureDeleteMsg(ctx, seq); err != nil {
		return err
	}
	return s.Stream.SecureDeleteMsg(ctx, seq)
}

// TestReplayOfALetterRemovedMeanwhile: a replay whose letter someone else
// removed once it was published is a replay done, its letter gone, not
// "replayed, but the dead letter could not be removed": the server
// answers a delete of a missing message with a generic failure.
func TestReplayOfALetterRemovedMeanwhile(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected})
	q.stream = removedMeanwhile{Stream: q.stream}
	if err := q.Replay(context.Background(), all[0].Seq); err != nil {
		t.Errorf("Replay: got %v, want nil: replayed, and its letter is gone", err)
	}
	if left, err := q.List(context.Background(), Filter{}); err != nil || len(left) != 0 {
		t.Errorf("dead letters: got %+v (%v), want none", left, err)
	}
}

// TestReplayAtTheTenantQuota: a submission's letter whose tenant holds as
// many submissions as its quota allows is refused by the stream, and no
// waiting frees room (only the tenant's oldest ageing out does): the
// replay fails at once, saying why, and the letter stays.
func TestReplayAtTheTenantQuota(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{TenantMaxSubmissions: 1})
	if err != nil {
		t.Fatal(err)
	}
	subject := res.Layout.SubmissionSubject("acme")
	if _, err := srv.JS.Publish(ctx, subject, []byte(`{"other":true}`)); err != nil {
		t.Fatal(err)
	}
	dl := DeadLetter{OriginalSubject: subject, StreamSeq: 1, Tenant: "acme", SubmissionID: "emp-1",
		Reason: ReasonInsufficientCredit, Error: "e", Generation: 1}
	if err := Publish(ctx, srv.JS, res.Layout, dl, []byte(`{"id":"emp-1"}`), MsgID("acme", "emp-1", 1, ReasonInsufficientCredit)); err != nil {
		t.Fatal(err)
	}
	q := NewQueue(srv.JS, res, []byte("0123456789abcdef0123456789abcdef"), nil)
	all, err := q.List(ctx, Filter{})
	if err != nil || len(all) != 1 {
		t.Fatalf("List: %v, %v", all, err)
	}
	start := time.Now()
	err = q.Replay(ctx, all[0].Seq)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 || !strings.Contains(err.Error(), "quota") {
		t.Errorf("Replay: got %v, want the stream's 10077 naming the tenant's quota", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Replay took %s, want an answer at once", took)
	}
	if _, err := q.Get(ctx, all[0].Seq); err != nil {
		t.Errorf("the letter after the refused replay: %v, want it kept", err)
	}
}

// cancelingStream is the DLQ stream of a List whose caller goes away (a
// console page's deadline, a browser that left, Ctrl-C) once the first
// letter is read.
type cancelingStream struct {
	jetstream.Stream
	cancel context.CancelFunc
}

func (s cancelingStream) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	c, err := s.Stream.OrderedConsumer(ctx, cfg)
	return &cancelingConsumer{Consumer: c, cancel: s.cancel}, err
}

type cancelingConsumer struct {
	jetstream.Consumer
	cancel context.CancelFunc
}

func (c *cancelingConsumer) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	b, err := c.Consumer.Fetch(batch, opts...)
	c.cancel()
	return b, err
}

// TestListStopsWhenItsContextIsDone: List reads no further letter once its
// context is done, and says so. It used to read on to the stream's end
// (the ordered consumer's fetches have their own wait, not the context):
// the console's list, whose filter by reason reads every letter that does
// not match, went on long after its page's deadline and after its
// browser left, one such scan per request.
func TestListStopsWhenItsContextIsDone(t *testing.T) {
	q, _ := queueWith(t, [3]string{"acme", "a1", ReasonExpired}, [3]string{"acme", "a2", ReasonExpired}, [3]string{"acme", "a3", ReasonExpired})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q.stream, q.listBatch = cancelingStream{Stream: q.stream, cancel: cancel}, 1 // a fetch a letter
	got, err := q.List(ctx, Filter{Reason: ReasonInsufficientCredit})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("List whose context was cancelled after the first letter: got %d letters and error %v, want context.Canceled", len(got), err)
	}
}

// deletingStream is the DLQ stream of a List during which an operator
// deletes the stream, once the first letter is read.
type deletingStream struct {
	jetstream.Stream
	del func()
}

func (s deletingStream) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	c, err := s.Stream.OrderedConsumer(ctx, cfg)
	return &deletingConsumer{Consumer: c, del: s.del}, err
}

type deletingConsumer struct {
	jetstream.Consumer
	del  func()
	once sync.Once
}

func (c *deletingConsumer) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	b, err := c.Consumer.Fetch(batch, opts...)
	c.once.Do(c.del)
	return b, err
}

// TestListOfAStreamDeletedMeanwhile: a List whose stream is deleted while
// it reads ends with an error. The ordered consumer makes a consumer anew
// for the fetch after, and by default tries that for ever, whatever the
// context says: the list hung.
func TestListOfAStreamDeletedMeanwhile(t *testing.T) {
	q, _ := queueWith(t, [3]string{"acme", "a1", ReasonExpired}, [3]string{"acme", "a2", ReasonExpired}, [3]string{"acme", "a3", ReasonExpired})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	name := q.stream.CachedInfo().Config.Name
	q.listBatch = 1
	q.stream = deletingStream{Stream: q.stream, del: func() {
		if err := q.js.DeleteStream(context.Background(), name); err != nil {
			t.Errorf("delete the stream: %v", err)
		}
	}}
	done := make(chan error, 1)
	go func() {
		_, err := q.List(ctx, Filter{})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("List of a stream deleted after its first letter: no error, want one")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("List of a stream deleted after its first letter has not returned in 30 s")
	}
}

// TestReplayMarksOnlyACorrection: a replay with a payload of the
// operator's (ReplayWith) carries the signed correction mark, and a plain
// one (Replay) does not: the pipeline takes a replay's payload in place of
// its submission's recorded one only when it is marked. Likewise only a
// replay the tenant asked for (ReplayAs, TenantAsked) is marked so.
func TestReplayMarksOnlyACorrection(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected}, [3]string{"acme", "emp-2", ReasonInvalid},
		[3]string{"acme", "emp-3", ReasonWithdrawn})
	ctx := context.Background()
	corrected := []byte(`{"id":"emp-2","service":"ISEE","fields":{"$0":"Luigi"}}`)
	if err := q.Replay(ctx, all[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := q.ReplayWith(ctx, all[1].Seq, corrected); err != nil {
		t.Fatal(err)
	}
	if err := q.ReplayAs(ctx, all[2].Seq, ReplayOptions{TenantAsked: true}); err != nil {
		t.Fatal(err)
	}
	subs, err := q.js.Stream(ctx, q.layout.SubmissionsStream())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ correction, asked bool }{{false, false}, {true, false}, {false, true}} {
		m, err := subs.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		seq, ok := VerifyReplay(q.key, m.Header.Get(ReplayHeader), m.Subject, m.Data)
		if !ok || seq != all[i].Seq {
			t.Fatalf("replay of dead letter %d: it names %d (signature holds: %v)", all[i].Seq, seq, ok)
		}
		if got := VerifyCorrection(q.key, m.Header.Get(CorrectionHeader), seq, m.Subject, m.Data); got != want.correction {
			t.Errorf("replay of dead letter %d: marked a correction %v, want %v", all[i].Seq, got, want.correction)
		}
		if got := VerifyTenantAsked(q.key, m.Header.Get(TenantAskedHeader), seq, m.Subject, m.Data); got != want.asked {
			t.Errorf("replay of dead letter %d: marked as the tenant's asking %v, want %v", all[i].Seq, got, want.asked)
		}
	}
}

// TestListFetchesLettersInBatches: a list reads many letters' headers a
// fetch. Each fetch of an ordered consumer makes a consumer of its own (on
// a cluster, through its meta leader), and List fetched one letter at a
// time: a list of the thousands of letters an outage leaves made as many
// consumers.
func TestListFetchesLettersInBatches(t *testing.T) {
	letters := make([][3]string, ListBatch+10)
	for i := range letters {
		letters[i] = [3]string{"acme", fmt.Sprintf("s%d", i), ReasonExpired}
	}
	q, all := queueWith(t, letters...)
	var n atomic.Int64
	q.stream = natstest.NewNoResponders(q.stream, func(fetch int64) bool { n.Store(fetch); return false }) // counts, fails none
	got, err := q.List(context.Background(), Filter{Tenant: "acme"})
	if err != nil || len(got) != len(all) {
		t.Fatalf("List: got %d letters, error %v; want %d", len(got), err, len(all))
	}
	if n.Load() > 2 {
		t.Errorf("List of %d letters made %d fetches (and as many consumers), want 2", len(all), n.Load())
	}
}
