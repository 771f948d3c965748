package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestEraseRemovesTheSubmissionsMalformedCopies: a producer's copy of a
// submission that the pipeline refused as malformed, but whose id it read
// (a leading byte order mark, data after the object), carries the person
// as the submission does. Its dead letter names the submission, and iseed
// erase purges it; its message in the submissions stream is the
// submission's too, and is deleted with the others.
func TestEraseRemovesTheSubmissionsMalformedCopies(t *testing.T) {
	srv := cliEnv(t)
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startWalkDaemon(t, cfg, &pipetest.Buffer{})
	ctx := context.Background()
	waitRecord := recordWaiter(t, d.res, 60*time.Second)

	payload, err := os.ReadFile(walkEvent(t, "erase-copies", walkInvalid))
	if err != nil {
		t.Fatal(err)
	}
	subject := d.res.Layout.SubmissionSubject("acme")
	for _, copy := range [][]byte{append([]byte("\uFEFF"), payload...), append(append([]byte{}, payload...), "\n{}"...)} {
		if _, err := srv.JS.Publish(ctx, subject, copy); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 20*time.Second, "the copies' 2 dead letters", func() bool { return len(deadLetters(t, "--tenant", "acme")) == 2 })
	if _, err := srv.JS.Publish(ctx, subject, payload); err != nil {
		t.Fatal(err)
	}
	waitRecord("acme", "erase-copies", func(r *record.Record) bool { return r.Closed() })
	waitUntil(t, 20*time.Second, "the submission's dead letter", func() bool { return len(deadLetters(t, "--tenant", "acme")) == 3 })

	rep, errOut, code := runErase(t, "", "--tenant", "acme", "erase-copies")
	if x := outcomes(rep)["erase-copies"]; code != 0 || x.Outcome != erased || x.DeadLetters != 3 || x.SubmissionMessages != 3 {
		t.Errorf("erase: exit %d, %+v, stderr %q; want 0, erased, its 3 dead letters and its 3 messages removed", code, x, errOut)
	}
	info, err := d.res.Submissions.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range findInStream(t, srv.JS, info) {
		t.Errorf("%q found in %s after erase: %s", h.value, h.place, h.detail)
	}
}
