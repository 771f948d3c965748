package consumer_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// barrierUpstream holds every GET /richiesta/{id} until two are waiting, so
// that two reconciliations look at the same un-indexed candidate together.
type barrierUpstream struct {
	*visengine.Client
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func (b *barrierUpstream) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	b.mu.Lock()
	b.waiting++
	if b.waiting == 2 {
		close(b.release)
	}
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-time.After(5 * time.Second):
	}
	return b.Client.Richiesta(ctx, id)
}

// Two different submissions with the same input, both with an unanswered
// POST, reconcile at once and both match the one upstream request: the
// request index lets only the first adopt it; the second stays unsure,
// skips it on its next reconciliation and sends its own.
func TestTwoSubmissionsNeverAdoptOneRequest(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	kv, _ := schema.EnsureBucket(ctx, h.NATS.JS, h.Res.Layout.SchemasBucket(), 1, jetstream.FileStorage)
	cache := schema.NewCache(h.Client, kv, schema.CacheConfig{Logger: zerolog.Nop()})
	svc, err := cache.Service(ctx, "ISEE")
	if err != nil {
		t.Fatal(err)
	}
	fields := pipetest.ValidFields("Mario")
	prep, err := svc.Validate(schema.Input{Fields: fields, Options: []string{"urgenza"}}, schema.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	for _, id := range []string{"emp-a", "emp-b"} {
		sub, _ := consumer.DecodeSubmission(pipetest.Submission(id, fields))
		rec := &record.Record{Tenant: pipetest.Tenant, ID: id, Fingerprint: sub.Fingerprint(), Generation: 1,
			State: record.StateClaimed, Attempts: 1, Created: past, Updated: past,
			Pending: &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second)}}
		b, _ := json.Marshal(rec)
		if _, err := h.Res.Records.Create(ctx, record.Key(pipetest.Tenant, id), b); err != nil {
			t.Fatal(err)
		}
	}
	// emp-a's unanswered POST did create a request upstream.
	if _, err := h.Client.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: prep.HashVisura, JSONVisura: prep.JSONVisura, Opzioni: prep.Opzioni}); err != nil {
		t.Fatal(err)
	}
	h.Start(pipetest.WithSchemas(cache), pipetest.WithUpstream(&barrierUpstream{Client: h.Client, release: make(chan struct{})}))
	h.Publish(pipetest.Submission("emp-a", fields), nil)
	h.Publish(pipetest.Submission("emp-b", fields), nil)
	a := h.WaitState("emp-a", record.StateSubmitted)
	b := h.WaitState("emp-b", record.StateSubmitted)
	e, _ := h.Res.Requests.Get(ctx, a.RequestID)
	t.Logf("emp-a request %s, emp-b request %s, index owner %s, created %d", a.RequestID, b.RequestID, e.Value(), h.Counter("created"))
	if a.RequestID == b.RequestID {
		t.Errorf("two submissions adopted the same upstream request %s", a.RequestID)
	}
}
