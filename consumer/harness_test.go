package consumer_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

const (
	iseeHash = "6aa0789f5ba34684b2bc5ccf364f8929"
	simToken = "test-token"
	tenant   = "acme"
)

// harness is a pipeline on an embedded nats-server, talking to the
// simulator over real HTTP.
type harness struct {
	t      *testing.T
	nats   *natstest.Server
	sim    *sim.Server
	simURL string
	client *visengine.Client
	res    *consumer.Resources
	layout consumer.Layout
}

type harnessOpt func(*harnessConfig)

type harnessConfig struct {
	layout   consumer.Layout
	cfg      consumer.Config
	schemas  consumer.Schemas
	upstream consumer.Upstream
	metrics  *consumer.Metrics
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, nats: natstest.Run(t)}
	h.sim = sim.New(sim.Config{Token: simToken, Step: time.Hour, Wallet: 1e7})
	srv := httptest.NewServer(h.sim)
	t.Cleanup(func() { h.sim.Close(); srv.Close() })
	h.simURL = srv.URL
	u, _ := url.Parse(srv.URL)
	c, err := visengine.New(visengine.Config{BaseURL: u, Token: simToken, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.client = c
	h.layout = consumer.Layout{AckWait: 3 * time.Second, MaxDeliver: 50, Duplicates: time.Minute}
	h.res, err = consumer.EnsureLayout(context.Background(), h.nats.JS, h.layout)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// start runs a pipeline (a "daemon") until the test ends; it returns a stop
// function that shuts it down and waits.
func (h *harness) start(opts ...harnessOpt) (stop func()) {
	h.t.Helper()
	hc := harnessConfig{
		cfg: consumer.Config{Workers: 4, Retry: consumer.RetryPolicy{MinDelay: 100 * time.Millisecond, MaxDelay: time.Second},
			CallTimeout: 2 * time.Second, ReconcileSettle: 300 * time.Millisecond,
			Logger: zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel)},
		upstream: h.client,
	}
	for _, o := range opts {
		o(&hc)
	}
	ctx := context.Background()
	if hc.schemas == nil {
		kv, err := schema.EnsureBucket(ctx, h.nats.JS, h.res.Layout.SchemasBucket(), 1, jetstream.FileStorage)
		if err != nil {
			h.t.Fatal(err)
		}
		hc.schemas = schema.NewCache(h.client, kv, schema.CacheConfig{Logger: zerolog.Nop()})
	}
	p, err := consumer.New(hc.cfg, consumer.Deps{
		Resources: h.res, Upstream: hc.upstream, Schemas: hc.schemas, Files: schema.ObjectStoreSource(h.nats.JS),
		Events: publisher.New(h.nats.JS, publisher.Config{}), Publisher: h.nats.JS, Metrics: hc.metrics,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ctx) })
	wg.Go(func() { _ = p.RunAdvisories(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	h.t.Cleanup(stop)
	return stop
}

func withConfig(f func(*consumer.Config)) harnessOpt { return func(c *harnessConfig) { f(&c.cfg) } }
func withSchemas(s consumer.Schemas) harnessOpt      { return func(c *harnessConfig) { c.schemas = s } }
func withMetrics(m *consumer.Metrics) harnessOpt     { return func(c *harnessConfig) { c.metrics = m } }
func withUpstream(u consumer.Upstream) harnessOpt    { return func(c *harnessConfig) { c.upstream = u } }

// validFields is a complete ISEE submission for the simulator's fixture.
func validFields(name string) map[string]any {
	return map[string]any{
		"Nome":                       name,
		"$1":                         "Rossi",
		"Email":                      "mario.rossi@example.it",
		"Telefono":                   "+39 333 1234567",
		"Codice Fiscale":             "RSSMRA85T10A562S",
		"Copia documento d'identità": "carta.pdf|data:application/pdf;base64,JVBERi0xLjQKJeLjz9MK",
		"$6":                         "cf.pdf|data:application/pdf;base64,JVBERi0xLjQKJeLjz9MK",
	}
}

func submission(id string, fields map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "service": "ISEE", "fields": fields,
		"options": []string{"urgenza"}, "metadata": map[string]string{"employee_id": "7781"}})
	return b
}

// publish puts a raw submission on the tenant's subject.
func (h *harness) publish(data []byte, hdr nats.Header) {
	h.t.Helper()
	m := nats.NewMsg(h.res.Layout.SubmissionSubject(tenant))
	m.Data = data
	for k, v := range hdr {
		m.Header[k] = v
	}
	if _, err := h.nats.JS.PublishMsg(context.Background(), m); err != nil {
		h.t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// record returns the submission's record, or nil.
func (h *harness) record(id string) *consumer.Record {
	r, _, err := consumer.NewStore(h.res.Records).Get(context.Background(), tenant, id)
	if err != nil {
		return nil
	}
	return r
}

func (h *harness) waitState(id, state string) *consumer.Record {
	h.t.Helper()
	var r *consumer.Record
	waitFor(h.t, 20*time.Second, "submission "+id+" to be "+state, func() bool {
		r = h.record(id)
		return r != nil && r.State == state
	})
	return r
}

// events returns the status events stored for a submission, oldest first.
func (h *harness) events(id string) []publisher.Event {
	h.t.Helper()
	raws, err := consumer.ListEvents(context.Background(), h.nats.JS, h.res.Layout, tenant, id)
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]publisher.Event, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			h.t.Fatal(err)
		}
	}
	return out
}

func (h *harness) eventTypes(id string) []string {
	var out []string
	for _, ev := range h.events(id) {
		out = append(out, ev.Type)
	}
	return out
}

func (h *harness) deadLetters() []consumer.DeadLetter {
	h.t.Helper()
	dls, err := consumer.NewDLQ(h.nats.JS, h.res).List(context.Background(), consumer.Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return dls
}

func (h *harness) counter(key string) int { return h.sim.Counters()[key] }
