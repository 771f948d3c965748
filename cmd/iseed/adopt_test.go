package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
)

// TestAuditAdopt hands a request to a submission failed as ambiguous and
// replays its dead letter. The index write can land with its reply lost:
// the operator runs the command again, meets the command's own entry and
// must go on to the replay (it refused for good, "owned already?"). An
// entry naming another submission is still refused, the letter kept.
func TestAuditAdopt(t *testing.T) {
	const tenant = "acme"
	d := startCLIDaemon(t) // one for every case: each has a submission and a request of its own
	for i, tc := range []struct {
		name    string
		indexed func(id string) string // the index entry already there (nil: none)
		ok      bool
	}{
		{"first run", nil, true},
		{"rerun after the index write landed", func(id string) string { return record.Key(tenant, id) }, true},
		{"the request is another submission's", func(string) string { return record.Key(tenant, "emp-other") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, req := fmt.Sprintf("emp-adopt-%d", i), fmt.Sprintf("6b0ee1771dcdaf00000000a%d", i)
			indexed := ""
			if tc.indexed != nil {
				indexed = tc.indexed(id)
			}
			ctx := context.Background()
			ambiguousLetter(t, d, tenant, id)
			if indexed != "" {
				if _, err := d.res.Requests.Create(ctx, record.IndexKey(req), []byte(indexed)); err != nil {
					t.Fatal(err)
				}
			}
			out, errOut, code := runCLI(t, "audit", "adopt", req, "--tenant", tenant, "--submission", id)
			owner, _, err := record.LeaderGet(ctx, d.js, d.res.Layout.RequestsBucket(), record.IndexKey(req))
			if err != nil {
				t.Fatal(err)
			}
			all, err := dlq.NewQueue(d.js, d.res, nil, nil).List(ctx, dlq.Filter{Reason: dlq.ReasonAmbiguous})
			if err != nil {
				t.Fatal(err)
			}
			dls := slices.DeleteFunc(all, func(dl dlq.DeadLetter) bool { return dl.SubmissionID != id }) // this case's
			switch {
			case tc.ok && (code != 0 || !strings.Contains(out, "replayed") || string(owner) != record.Key(tenant, id) || len(dls) != 0):
				t.Errorf("exit %d (%s%s), index %q, %d dead letters left; want 0, the index naming %s, the letter replayed",
					code, out, errOut, owner, len(dls), record.Key(tenant, id))
			case !tc.ok && (code == 0 || string(owner) != indexed || len(dls) != 1 || !strings.Contains(errOut, indexed)):
				t.Errorf("exit %d (%s), index %q, %d dead letters left; want a refusal naming %s, the letter kept",
					code, errOut, owner, len(dls), indexed)
			}
		})
	}
}

// ambiguousLetter stores what a submission dead-lettered as ambiguous
// leaves: its failed record, without a request, and its dead letter.
func ambiguousLetter(t *testing.T, d *daemon, tenant, id string) {
	t.Helper()
	ctx := context.Background()
	payload, err := iseeEvent(id, "Mario")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := consumer.DecodeSubmission(payload)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec := &record.Record{Tenant: tenant, ID: id, Fingerprint: sub.Fingerprint(), Generation: 1, Attempts: 1, Created: now, Reason: dlq.ReasonAmbiguous,
		Pending: &record.Attempt{Started: now, Owner: "gone/1", Until: now, Settle: now}}
	rec.To(record.StateFailed, now, dlq.ReasonAmbiguous)
	if _, err := record.NewStore(d.res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	dl := dlq.DeadLetter{OriginalSubject: d.res.Layout.SubmissionSubject(tenant), StreamSeq: 1, Tenant: tenant,
		SubmissionID: id, Reason: dlq.ReasonAmbiguous, Generation: 1, Attempts: 1}
	// The pipeline's message id: one letter per submission, so that
	// letters of several submissions on one daemon are all stored.
	if err := dlq.Publish(ctx, d.js, d.res.Layout, dl, payload, dlq.MsgID(tenant, id, 1, dlq.ReasonAmbiguous)); err != nil {
		t.Fatal(err)
	}
}

// TestAuditRefusesARequestAnotherSubmissionKeeps: a request whose id
// another submission's record keeps (an earlier POST of that submission
// got it back, the index refused it) is that submission's. Handed to the
// ambiguous one (adopt), or marked not iseed's (disown), the keeper's next
// delivery would find the index naming another owner, drop the id and
// send again: paid twice. Both are refused, naming the keeper, with
// nothing indexed and the letter kept.
func TestAuditRefusesARequestAnotherSubmissionKeeps(t *testing.T) {
	const tenant, id, keeper, req = "acme", "emp-adopt", "emp-keeper", "6b0ee1771dcdaf00000000ab"
	for _, verb := range []string{"adopt", "disown"} {
		t.Run(verb, func(t *testing.T) {
			d := startCLIDaemon(t)
			ctx := context.Background()
			ambiguousLetter(t, d, tenant, id)
			past := time.Now().Add(-time.Minute)
			rec := &record.Record{Tenant: tenant, ID: keeper, Generation: 1, Attempts: 1, Service: "ISEE", Created: past,
				Pending: &record.Attempt{Started: past, Owner: "gone", Until: past.Add(time.Second), Answered: req}}
			rec.To(record.StateClaimed, past, "")
			if _, err := record.NewStore(d.res.Records).Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := runCLI(t, "audit", verb, req, "--tenant", tenant, "--submission", id)
			if code == 0 || !strings.Contains(errOut, record.Key(tenant, keeper)) {
				t.Errorf("audit %s: exit %d, %q; want a refusal naming %s", verb, code, errOut, record.Key(tenant, keeper))
			}
			if _, err := d.res.Requests.Get(ctx, record.IndexKey(req)); err == nil {
				t.Errorf("the request index has %s after the refusal", req)
			}
			dls, err := dlq.NewQueue(d.js, d.res, nil, nil).List(ctx, dlq.Filter{Reason: dlq.ReasonAmbiguous})
			if err != nil {
				t.Fatal(err)
			}
			if len(dls) != 1 {
				t.Errorf("ambiguous dead letters: got %d, want 1 (not replayed)", len(dls))
			}
		})
	}
}

// TestAuditAdoptRefusalSaysWhy: adopt and disown refuse a submission that
// does not exist, or that is not failed as ambiguous without a request,
// naming the submission and what it is, in words: no empty reason in
// brackets, no empty request in quotes.
func TestAuditAdoptRefusalSaysWhy(t *testing.T) {
	const tenant, req = "acme", "6b0ee1771dcdaf00000000ac"
	d := startCLIDaemon(t)
	now := time.Now()
	rec := &record.Record{Tenant: tenant, ID: "emp-done", Generation: 1, Attempts: 1, Service: "ISEE", Created: now, RequestID: req}
	rec.To(record.StateCompleted, now, "")
	if _, err := record.NewStore(d.res.Records).Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, want string
	}{
		{"emp-none", `no submission "emp-none" for tenant "acme"`},
		{"emp-done", "acme.emp-done is completed, with upstream request " + req + ": only a submission failed as ambiguous"},
	} {
		for _, verb := range []string{"adopt", "disown"} {
			_, errOut, code := runCLI(t, "audit", verb, req, "--tenant", tenant, "--submission", tc.id)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("audit %s of %s: got exit %d, %q; want exit 1 and %q", verb, tc.id, code, errOut, tc.want)
			}
		}
	}
}

// TestAuditRefusesALetterThatReopenedAlready: audit adopt and disown
// replay the submission's ambiguous dead letter, and refuse it as iseed
// dlq replay does (dlq.CheckReopen): one that reopened the submission once
// already (its replay was published but the letter could not be removed,
// and the submission failed again without a new letter, or its new one was
// purged) reopens nothing. They used to write the index entry, replay it
// and say "reconciliation adopts it": nothing reopened. Both now refuse,
// saying why and to purge it, with nothing indexed and the letter kept.
func TestAuditRefusesALetterThatReopenedAlready(t *testing.T) {
	const tenant = "acme"
	d := startCLIDaemon(t)
	ctx := context.Background()
	q := dlq.NewQueue(d.js, d.res, nil, nil)
	store := record.NewStore(d.res.Records)
	for i, verb := range []string{"adopt", "disown"} {
		t.Run(verb, func(t *testing.T) {
			id, req := "emp-reopened-"+verb, fmt.Sprintf("6b0ee1771dcdaf00000000d%d", i)
			ambiguousLetter(t, d, tenant, id)
			all, err := q.List(ctx, dlq.Filter{Tenant: tenant, Reason: dlq.ReasonAmbiguous})
			if err != nil {
				t.Fatal(err)
			}
			var seq uint64
			for _, dl := range all {
				if dl.SubmissionID == id {
					seq = dl.Seq
				}
			}
			rec, rev, err := store.Get(ctx, tenant, id)
			if err != nil {
				t.Fatal(err)
			}
			rec.AddReplay(seq, time.Now())
			if _, err := store.Update(ctx, rec, rev); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := runCLI(t, "audit", verb, req, "--tenant", tenant, "--submission", id)
			if code != 1 || out != "" || !strings.Contains(errOut, "reopened the submission once already") ||
				!strings.Contains(errOut, fmt.Sprintf("iseed dlq purge %d", seq)) {
				t.Errorf("audit %s of a letter that reopened its submission: exit %d, stdout %q, stderr %q; want 1, why and the purge",
					verb, code, out, errOut)
			}
			if _, err := d.res.Requests.Get(ctx, record.IndexKey(req)); err == nil {
				t.Errorf("the request index has %s after the refusal", req)
			}
			if _, err := q.Get(ctx, seq); err != nil {
				t.Errorf("dead letter %d after the refusal: %v; want it kept", seq, err)
			}
		})
	}
}

// TestAuditAdoptPublishedButNotRemoved: when the replay of the ambiguous
// letter is published but the letter cannot be removed
// (dlq.ErrNotRemoved), audit adopt says the letter was replayed and to
// purge it, as iseed dlq replay says: it used to say to run the command
// again to replay it, which would reopen nothing.
func TestAuditAdoptPublishedButNotRemoved(t *testing.T) {
	const tenant, id, req = "acme", "emp-kept", "6b0ee1771dcdaf00000000e0"
	d := startCLIDaemon(t)
	ctx := context.Background()
	ambiguousLetter(t, d, tenant, id)
	st, err := d.js.Stream(ctx, d.res.Layout.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.DenyDelete = true // the stream refuses every removal from now on
	if _, err := d.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	all, err := dlq.NewQueue(d.js, d.res, nil, nil).List(ctx, dlq.Filter{Tenant: tenant, Reason: dlq.ReasonAmbiguous})
	if err != nil || len(all) != 1 {
		t.Fatalf("ambiguous dead letters: %+v, %v; want one", all, err)
	}
	seq := fmt.Sprint(all[0].Seq)
	out, errOut, code := runCLI(t, "audit", "adopt", req, "--tenant", tenant, "--submission", id)
	if code != 1 || !strings.Contains(errOut, "dead letter "+seq+" of acme.emp-kept replayed") || !strings.Contains(errOut, "iseed dlq purge "+seq) ||
		strings.Contains(errOut, "run this command again") {
		t.Errorf("adopt whose letter is not removed: exit %d, stdout %q, stderr %q; want 1, said replayed, and the purge to do", code, out, errOut)
	}
	owner, _, err := record.LeaderGet(ctx, d.js, d.res.Layout.RequestsBucket(), record.IndexKey(req))
	if err != nil || string(owner) != record.Key(tenant, id) {
		t.Errorf("request index entry of %s: %q (%v); want %s", req, owner, err, record.Key(tenant, id))
	}
}
