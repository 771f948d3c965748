package consumer_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
)

// rehashedSchemas serves a stale schema until the pipeline drops it, then
// the service as the upstream publishes it now: the cache after a refusal.
type rehashedSchemas struct {
	cur   atomic.Pointer[schema.Service]
	fresh *schema.Service
}

func (s *rehashedSchemas) Service(context.Context, string) (*schema.Service, error) {
	return s.cur.Load(), nil
}

func (s *rehashedSchemas) Invalidate(context.Context, string) error {
	s.cur.Store(s.fresh)
	return nil
}

// TestReplayRecordsTheServiceItIsSentTo: a submission sent under a hash
// the upstream no longer knows (its cached schema was read before the
// service was published under another) is refused and dead-lettered; its
// replay, unchanged, is validated against the service as published now and
// sent to its new hash. The record, its submitted event and ledger entry
// name the service the request was created for, not the hash of the first
// generation's stale schema: with that one, the ledger and the spending
// report counted the request under a service that no longer exists, and
// the audit looked for its candidates under it.
func TestReplayRecordsTheServiceItIsSentTo(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	v, err := h.Client.Visura(context.Background(), pipetest.ISEEHash)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := schema.Compile(v)
	if err != nil {
		t.Fatal(err)
	}
	old := *v
	old.HashVisura = strings.Repeat("f", 32)
	stale, err := schema.Compile(&old)
	if err != nil {
		t.Fatal(err)
	}
	schemas := &rehashedSchemas{fresh: fresh}
	schemas.cur.Store(stale)
	h.Start(pipetest.WithSchemas(schemas))

	h.Publish(pipetest.Submission("emp-rehash", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-rehash", record.StateFailed)
	if r.ServiceHash != old.HashVisura {
		t.Fatalf("first generation: service hash %q, want the stale schema's %q", r.ServiceHash, old.HashVisura)
	}
	dls := h.DeadLetters()
	pipetest.WaitFor(t, 5*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	if err := h.Queue().Replay(context.Background(), dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	r = h.WaitState("emp-rehash", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Fatalf("upstream requests: got %d, want 1", got)
	}
	if r.ServiceHash != pipetest.ISEEHash {
		t.Errorf("replayed generation's record: service hash %q, want %q, the hash its request was created under", r.ServiceHash, pipetest.ISEEHash)
	}
	h.WaitLastEvent("emp-rehash", publisher.StatusType(publisher.StateSubmitted))
	evs := h.Events("emp-rehash")
	var st publisher.Status
	if err := json.Unmarshal(evs[len(evs)-1].Data, &st); err != nil {
		t.Fatal(err)
	}
	if st.ServiceHash != pipetest.ISEEHash {
		t.Errorf("submitted event: service_hash %q, want %q", st.ServiceHash, pipetest.ISEEHash)
	}
}
