package consumer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// deletingLimiter is the upstream budget while a tenant deletes its file:
// each wait for a token, which comes after the file was checked and
// before the POST reads it again, finds the object gone.
type deletingLimiter struct {
	files jetstream.ObjectStore
	name  string
}

func (l deletingLimiter) Wait(ctx context.Context) error {
	if err := l.files.Delete(ctx, l.name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return err
	}
	return nil
}

// TestFilesChangedByATenantDoNotStopOthers: a tenant that deletes its
// referenced file between the check and the POST gets file_changed, and
// nothing more: however often it does so, the upstream was never unwell,
// the circuit breaker stays closed, and another tenant's submission goes
// at once.
func TestFilesChangedByATenantDoNotStopOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	files, err := h.NATS.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "iseed_files_acme"})
	if err != nil {
		t.Fatal(err)
	}
	const name = "7781/carta.pdf"
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.Breaker = consumer.BreakerConfig{Failures: 5, Cooldown: time.Minute} }),
		pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = deletingLimiter{files: files, name: name} }))
	for _, id := range []string{"gone-1", "gone-2", "gone-3", "gone-4", "gone-5"} {
		if _, err := files.PutBytes(ctx, name, []byte("%PDF-1.4 carta")); err != nil {
			t.Fatal(err)
		}
		fields := pipetest.ValidFields("Mario")
		fields["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_acme/" + name
		h.Publish(pipetest.Submission(id, fields), nil)
		r := h.WaitState(id, record.StateRejected)
		if len(r.Errors) != 1 || r.Errors[0].Code != "file_changed" {
			t.Fatalf("%s: problems: got %+v, want one file_changed", id, r.Errors)
		}
	}
	if h.Pipeline.BreakerOpen() {
		t.Error("circuit breaker: got open after a tenant's files changed, want closed (the upstream was never unwell)")
	}
	other := pipetest.Submission("emp-other", pipetest.ValidFields("Luigi"))
	h.publishAs("globex", other, msgIDOf("globex", other))
	pipetest.WaitExplained(t, 10*time.Second, "globex's submission", func() bool {
		r, _, err := record.NewStore(h.Res.Records).Get(ctx, "globex", "emp-other")
		return err == nil && r.State == record.StateSubmitted
	}, func() string {
		r, _, _ := record.NewStore(h.Res.Records).Get(ctx, "globex", "emp-other")
		state := "no record"
		if r != nil {
			state = r.State
		}
		return "its record: " + state + "; breaker open: " + map[bool]string{true: "yes", false: "no"}[h.Pipeline.BreakerOpen()]
	})
}
