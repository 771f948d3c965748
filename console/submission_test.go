package console_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// TestSubmissionSaysWhenItsListsAreIncomplete: a submission's events and
// dead letters whose fetches stop after the first (a loaded server) are
// shown as read so far, with a problem saying the list is incomplete. The
// page used to show the first event and the first dead letter alone as
// if they were all, and an operator took the submission's story for
// whole.
func TestSubmissionSaysWhenItsListsAreIncomplete(t *testing.T) {
	h := pipetest.New(t)
	ctx := context.Background()
	l := h.Res.Layout
	now := time.Now()
	if _, err := record.NewStore(h.Res.Records).Create(ctx, &record.Record{Tenant: pipetest.Tenant, ID: "part-1",
		State: record.StateInProgress, Generation: 2, Created: now, Updated: now}); err != nil {
		t.Fatal(err)
	}
	p := publisher.New(h.NATS.JS, publisher.Config{Prefix: l.Prefix})
	// More events and dead letters than a fetch brings (64 and 256): the
	// lists are read in batches.
	for gen := 1; gen <= 65; gen++ {
		for _, state := range []string{publisher.StateSubmitted, publisher.StateFailed} {
			if err := p.Status(ctx, publisher.Status{SubmissionID: "part-1", Tenant: pipetest.Tenant, State: state, Generation: gen, At: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := deadLetter(t, h, "part-1", dlq.ReasonExpired, []byte(`{}`))
	for gen := 2; gen <= dlq.ListBatch+1; gen++ {
		dl := dlq.DeadLetter{OriginalSubject: l.SubmissionSubject(pipetest.Tenant), StreamSeq: 1, Tenant: pipetest.Tenant,
			SubmissionID: "part-1", Reason: dlq.ReasonUpstreamRejected, Error: "test", Generation: gen, FirstFailure: now, LastFailure: now}
		if err := dlq.Publish(ctx, h.NATS.JS, l, dl, []byte(`{}`), dlq.MsgID(pipetest.Tenant, "part-1", gen, dl.Reason)); err != nil {
			t.Fatal(err)
		}
	}

	// Every stream's fetches after its first are lost on their way.
	proxy := natstest.NewDropProxy(t, h.NATS.Server.Addr().String())
	var mu sync.Mutex
	pulls := map[string]int{}
	proxy.Drop = func(subject string) bool {
		for _, stream := range []string{l.EventsStream(), l.DLQStream()} {
			if strings.HasPrefix(subject, "$JS.API.CONSUMER.MSG.NEXT."+stream+".") {
				mu.Lock()
				defer mu.Unlock()
				pulls[stream]++
				return pulls[stream] > 1
			}
		}
		return false
	}
	nc, js := natstest.Connect(t, proxy.URL)
	t.Cleanup(nc.Close)
	res, err := layout.Ensure(ctx, js, l)
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteOver(t, h, console.Config{}, nil, js, res)
	_, body := s.do(t, call{method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=part-1"}, nil, "")
	for what, want := range map[string]string{
		"the first event":                      pipetest.Tenant + ".part-1.1.submitted",
		"the first dead letter":                `href="/dead-letters/` + strconv.FormatUint(first, 10) + `"`,
		"the events' list is incomplete":       "The events listed may be incomplete",
		"the dead letters' list is incomplete": "The dead letters listed may be incomplete",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page does not show %s (%q)", what, want)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}

	// Another submission, whose first fetches are lost too: nothing read,
	// and nothing said to be none.
	if _, err := record.NewStore(h.Res.Records).Create(ctx, &record.Record{Tenant: pipetest.Tenant, ID: "part-2",
		State: record.StateInProgress, Generation: 1, Created: now, Updated: now}); err != nil {
		t.Fatal(err)
	}
	if err := p.Status(ctx, publisher.Status{SubmissionID: "part-2", Tenant: pipetest.Tenant, State: publisher.StateSubmitted, Generation: 1, At: now}); err != nil {
		t.Fatal(err)
	}
	deadLetter(t, h, "part-2", dlq.ReasonExpired, []byte(`{}`))
	_, body = s.do(t, call{method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=part-2"}, nil, "")
	for _, want := range []string{"The events cannot be read right now", "The dead letters cannot be read right now"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page of a submission whose lists cannot be read does not say %q", want)
		}
	}
	for _, none := range []string{`<p class="muted">none stored</p>`, `<p class="muted">none</p>`} {
		if strings.Contains(body, none) {
			t.Errorf("the page of a submission whose lists cannot be read says %q", none)
		}
	}
}
