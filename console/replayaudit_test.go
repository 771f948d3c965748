package console_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
)

// replayLine returns the log line of the console's replay of dead letter
// seq ("" when there is none).
func (s *site) replayLine(seq uint64) string {
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, `"seq":`+strconv.FormatUint(seq, 10)) && strings.Contains(l, "replayed") {
			return l
		}
	}
	return ""
}

// TestReplayNotRemovedIsAnAuditLine: a console replay that was published
// but whose letter could not be removed (dlq.ErrNotRemoved: the stream
// denies deletes) is a replay all the same, the submission reopening: it
// is written as an audit line, whatever ISEED_LOG_LEVEL says, as one
// removed is. It was a warning without "audit":"console", dropped at
// ISEED_LOG_LEVEL=error.
func TestReplayNotRemovedIsAnAuditLine(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	seq := deadLetter(t, h, "emp-kept", "prior_isee_required", pipetest.Submission("emp-kept", pipetest.ValidFields("Mario")))
	cfg := h.Res.DLQ.CachedInfo().Config
	cfg.DenyDelete = true
	if _, err := h.NATS.JS.UpdateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	resp, body := s.do(t, call{method: http.MethodPost, path: "/dead-letters/" + strconv.FormatUint(seq, 10) + "/replay", auth: "bearer"}, nil, "")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "kept=1") {
		t.Fatalf("replay: %d, Location %q; want 303 to the list, kept\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if line := s.replayLine(seq); !strings.Contains(line, `"audit":"console"`) || !strings.Contains(line, "not removed") {
		t.Errorf("the replay's log line: %q; want an audit line saying the letter was not removed", line)
	}
}

// TestReplayWhoseStoreIsUnknownIsAnAuditLine: a console replay whose
// publish got no answer (the proxy before the server drops it: a timeout,
// as on a cut connection) may have been stored, and its submission
// reopen: it is written as an audit line, whatever ISEED_LOG_LEVEL says,
// not only as a failure's warning.
func TestReplayWhoseStoreIsUnknownIsAnAuditLine(t *testing.T) {
	h := pipetest.New(t)
	ctx := context.Background()
	seq := deadLetter(t, h, "emp-lost", "prior_isee_required", pipetest.Submission("emp-lost", pipetest.ValidFields("Mario")))
	proxy := natstest.NewDropProxy(t, h.NATS.Server.Addr().String())
	submissions := h.Res.Layout.SubmissionSubject(pipetest.Tenant)
	proxy.Drop = func(subject string) bool { return subject == submissions }
	nc, js := natstest.Connect(t, proxy.URL)
	t.Cleanup(nc.Close)
	res, err := layout.Ensure(ctx, js, h.Res.Layout)
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteOver(t, h, console.Config{Token: testToken}, nil, js, res)
	resp, body := s.do(t, call{method: http.MethodPost, path: "/dead-letters/" + strconv.FormatUint(seq, 10) + "/replay", auth: "bearer"}, nil, "")
	if resp.StatusCode != http.StatusBadGateway || proxy.Dropped.Load() == 0 {
		t.Fatalf("replay (%d publishes dropped): %d; want 502\n%s", proxy.Dropped.Load(), resp.StatusCode, body)
	}
	if line := s.replayLine(seq); !strings.Contains(line, `"audit":"console"`) || !strings.Contains(line, "may have been stored") {
		t.Errorf("the replay's log line: %q; want an audit line saying it may have been stored", line)
	}
}
