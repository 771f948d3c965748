package console_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// floodedSubmission stores the record of submission id, in progress: the
// submission whose tenant then sends other payloads under its id, each a
// conflict with a dead letter of its own (one a message) and an event of
// its own (one a payload).
func floodedSubmission(t *testing.T, h *pipetest.Harness, id string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	if _, err := record.NewStore(h.Res.Records).Create(ctx, &record.Record{Tenant: pipetest.Tenant, ID: id,
		State: record.StateInProgress, Generation: 1, Created: now, Updated: now}); err != nil {
		t.Fatal(err)
	}
}

// TestSubmissionBoundsItsDeadLetters: a tenant may send any number of
// conflicting payloads under one submission id, each a dead letter of
// that submission; its page lists the oldest 500, as the dead letters'
// page does, and says so, instead of reading and showing every one.
func TestSubmissionBoundsItsDeadLetters(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	floodedSubmission(t, h, "flood-1")
	l := h.Res.Layout
	const n = 520
	for i := range n {
		dl := dlq.DeadLetter{OriginalSubject: l.SubmissionSubject(pipetest.Tenant), StreamSeq: uint64(i + 1), Tenant: pipetest.Tenant,
			SubmissionID: "flood-1", Reason: dlq.ReasonConflict, Error: "test", FirstFailure: time.Now(), LastFailure: time.Now()}
		if err := dlq.Publish(context.Background(), h.NATS.JS, l, dl, []byte(`{}`), dlq.MsgIDOfMessage(l.SubmissionsStream(), uint64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := s.do(t, call{method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=flood-1"}, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d, want 200:\n%s", resp.StatusCode, body)
	}
	_, table, _ := strings.Cut(body, `id="submission-dead-letters"`)
	table, _, _ = strings.Cut(table, "</table>")
	if rows := strings.Count(table, `<tr><td><a href="/dead-letters/`); rows != 500 {
		t.Errorf("the page of a submission with %d dead letters lists %d, want the oldest 500", n, rows)
	}
	if want := "The oldest 500 only"; !strings.Contains(body, want) {
		t.Errorf("the page does not say that it lists %s", want)
	}
}

// TestSubmissionBoundsItsEvents: each payload a tenant sends in conflict
// under one submission id is an event of that submission; its page shows
// the oldest 500 and says so, instead of reading and showing every one.
func TestSubmissionBoundsItsEvents(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	floodedSubmission(t, h, "flood-2")
	ctx := context.Background()
	p := publisher.New(h.NATS.JS, publisher.Config{Prefix: h.Res.Layout.Prefix})
	const n = 520
	for i := range n {
		if err := p.Status(ctx, publisher.Status{SubmissionID: "flood-2", Tenant: pipetest.Tenant, State: publisher.StateConflict, Generation: 1,
			At: time.Now(), EventID: publisher.ConflictEventID(pipetest.Tenant, "flood-2", strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := s.do(t, call{method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=flood-2"}, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d, want 200:\n%s", resp.StatusCode, body)
	}
	_, table, _ := strings.Cut(body, `id="events"`)
	table, _, _ = strings.Cut(table, "</table>")
	if rows := strings.Count(table, "<tr><td>"); rows != 500 {
		t.Errorf("the page of a submission with %d events shows %d, want the oldest 500", n, rows)
	}
	if want := "The oldest 500 only"; !strings.Contains(body, want) {
		t.Errorf("the page does not say that it shows %s", want)
	}
}
