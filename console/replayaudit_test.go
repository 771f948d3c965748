package console_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
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
	seq := deadLetter(t, h, "emp-lost", "prior_isee_required", pipetest.Submission("emp-lost", pipetest.ValidFields("Mario")))
	submissions := h.Res.Layout.SubmissionSubject(pipetest.Tenant)
	s, proxy := newSiteDropping(t, h, console.Config{Token: testToken}, func(subject string) bool { return subject == submissions })
	resp, body := s.do(t, call{method: http.MethodPost, path: "/dead-letters/" + strconv.FormatUint(seq, 10) + "/replay", auth: "bearer"}, nil, "")
	if resp.StatusCode != http.StatusBadGateway || proxy.Dropped.Load() == 0 {
		t.Fatalf("replay (%d publishes dropped): %d; want 502\n%s", proxy.Dropped.Load(), resp.StatusCode, body)
	}
	if line := s.replayLine(seq); !strings.Contains(line, `"audit":"console"`) || !strings.Contains(line, "may have been stored") {
		t.Errorf("the replay's log line: %q; want an audit line saying it may have been stored", line)
	}
}

// otherTab is a queue whose every replay of a letter is preceded by
// another replay of it that ends first: another tab's, or another
// operator's, done between the console's checks of the letter and its own
// replay.
type otherTab struct{ *dlq.Queue }

func (o otherTab) Replay(ctx context.Context, seq uint64) error {
	if err := o.Queue.Replay(ctx, seq); err != nil {
		return err
	}
	return o.Queue.Replay(ctx, seq)
}

// TestReplayOfALetterReplayedMeanwhile: a replay posted while another tab
// (or operator) replays the same letter answers 409, saying that the
// letter was replayed or purged meanwhile, also when that replay removed
// the letter between this one's checks and its own replay. It answered
// 502, "the replay failed", as if the upstream were at fault and nothing
// replayed.
func TestReplayOfALetterReplayedMeanwhile(t *testing.T) {
	h := pipetest.New(t)
	s := newSiteOn(t, h, console.Config{Token: testToken}, nil, h.NATS.JS, h.Res, func(q *dlq.Queue) console.DeadLetters { return otherTab{q} })
	seq := deadLetter(t, h, "emp-tabs", "prior_isee_required", pipetest.Submission("emp-tabs", pipetest.ValidFields("Mario")))
	resp, body := s.do(t, call{method: http.MethodPost, path: "/dead-letters/" + strconv.FormatUint(seq, 10) + "/replay", auth: "bearer"}, nil, "")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "replayed or purged meanwhile") {
		t.Errorf("replay of a letter replayed meanwhile: %d; want 409 saying it was replayed or purged meanwhile\n%s", resp.StatusCode, body)
	}
}
