package consumer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
)

// TestAmbiguousEventNamesNoCandidate: reconciliation cannot tell apart the
// requests of the service created while a POST was unanswered, and one of
// them is another tenant's (globex's, with the same person's data). The
// failed event goes to the tenant's own subject: it says how many
// candidates there were and that an operator decides, and names none of
// them, nor does the record it is made of. The dead letter, which only
// operators read (iseed dlq show), names them all.
func TestAmbiguousEventNamesNoCandidate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cache, own := lostPostsWith(t, h, false, false, nil, "emp-a")
	theirs := anotherTenantsRequest(t, h, cache, "globex", "emp-g")
	h.Start(pipetest.WithSchemas(cache), pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil }))
	h.Publish(pipetest.Submission("emp-a", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-a", record.StateFailed)
	h.WaitLastEvent("emp-a", publisher.StatusType(publisher.StateFailed))
	evs := h.Events("emp-a")
	var st publisher.Status
	if err := json.Unmarshal(evs[len(evs)-1].Data, &st); err != nil {
		t.Fatal(err)
	}
	tenantSees := string(evs[len(evs)-1].Data)
	recErrs, _ := json.Marshal(r.Errors)
	for _, id := range []string{own.ID, theirs.ID} {
		if strings.Contains(tenantSees, id) {
			t.Errorf("failed event names candidate %s: got %s, want no candidate's id", id, tenantSees)
		}
		if strings.Contains(string(recErrs), id) {
			t.Errorf("record's errors name candidate %s: got %s, want no candidate's id", id, recErrs)
		}
	}
	if len(st.Errors) != 1 || st.Reason != dlq.ReasonAmbiguous ||
		!strings.Contains(st.Errors[0].Message, "2 upstream request") || !strings.Contains(st.Errors[0].Message, "operator") {
		t.Errorf("failed event: got reason %q, errors %+v; want ambiguous, one saying 2 candidates and that an operator decides", st.Reason, st.Errors)
	}
	var letter *dlq.DeadLetter
	pipetest.WaitFor(t, 10*time.Second, "emp-a's ambiguous dead letter", func() bool {
		for _, d := range h.DeadLetters() {
			if d.SubmissionID == "emp-a" && d.Reason == dlq.ReasonAmbiguous {
				letter = &d
				return true
			}
		}
		return false
	})
	for _, id := range []string{own.ID, theirs.ID} {
		if !strings.Contains(letter.Error, id) {
			t.Errorf("dead letter's error: got %q, want it to name candidate %s for the operator", letter.Error, id)
		}
	}
}

// anotherTenantsRequest creates the upstream request another tenant's
// submission of the same input made, with that submission's marker.
func anotherTenantsRequest(t *testing.T, h *harness, cache *schema.Cache, tenant, id string) *visengine.Richiesta {
	t.Helper()
	ctx := context.Background()
	svc, err := cache.Service(ctx, "ISEE")
	if err != nil {
		t.Fatal(err)
	}
	prep, err := svc.Validate(schema.Input{Fields: pipetest.ValidFields("Mario"), Options: []string{"urgenza"}}, schema.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := h.Client.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: prep.HashVisura, JSONVisura: prep.JSONVisura,
		Opzioni: prep.Opzioni, CallbackData: h.Marker(tenant, id)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
