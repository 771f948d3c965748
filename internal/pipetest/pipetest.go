package pipetest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Test constants.
const (
	ISEEHash = "6aa0789f5ba34684b2bc5ccf364f8929" // the simulator's ISEE
	SimToken = "test-token"                       // the simulator's token
	Tenant   = "acme"                             // the tenant Publish uses
)

// ReplayKey signs and verifies replays in tests.
var ReplayKey = []byte("replay-key-for-tests-32-bytes!!!")

// Harness is a pipeline on an embedded nats-server, talking to the
// simulator over real HTTP.
type Harness struct {
	T *testing.T
	// Callbacks receives the simulator's callbacks (and answers 204): the
	// pipeline Start runs marks every POST with a callback_data naming the
	// submission, as production does with ISEED_PUBLIC_URL.
	Callbacks *httptest.Server
	NATS      *natstest.Server
	Sim       *sim.Server
	SimURL    string
	Client    *visengine.Client
	Res       *layout.Resources
	Layout    layout.Layout
	Pipeline  *consumer.Pipeline // the one Start made last
}

// Option changes how Start builds the pipeline.
type Option func(*options)

type options struct {
	deps     func(*consumer.Deps)
	cfg      consumer.Config
	schemas  consumer.Schemas
	upstream consumer.Upstream
	metrics  *consumer.Metrics
}

// New starts the server and the simulator (a slow lifecycle: Step 1h) and
// creates the layout.
func New(t *testing.T) *Harness {
	t.Helper()
	return NewWithSim(t, sim.Config{Step: time.Hour, Wallet: 1e7}, 2*time.Second)
}

// Profile is the simulator profile tests run against when they do not
// choose one: ISEED_SIM_PROFILE, the variable the daemon reads, so that
// `ISEED_SIM_PROFILE=published go test ./...` (as .ci/test does) runs the
// pipeline, tracker and CLI tests on the published profile too.
func Profile(t testing.TB) sim.Profile {
	var p sim.Profile
	if err := p.UnmarshalText([]byte(os.Getenv("ISEED_SIM_PROFILE"))); err != nil {
		t.Fatalf("ISEED_SIM_PROFILE: %v", err)
	}
	return p
}

// DefaultLayout is the layout of New: short leases for fast tests.
func DefaultLayout() layout.Layout {
	return layout.Layout{AckWait: 3 * time.Second, MaxDeliver: 50, Duplicates: time.Minute, TrackAckWait: 2 * time.Second}
}

// NewWithSim is New with a simulator configured by sc (its Token is set)
// and a client with the given per-call timeout.
func NewWithSim(t *testing.T, sc sim.Config, timeout time.Duration) *Harness {
	return NewWithLayout(t, sc, timeout, DefaultLayout())
}

// NewWithLayout is NewWithSim with the layout l.
func NewWithLayout(t *testing.T, sc sim.Config, timeout time.Duration, l layout.Layout) *Harness {
	t.Helper()
	return NewOnServer(t, natstest.Run(t), sc, timeout, l)
}

// NewOnServer is NewWithLayout on a server the test started (with
// natstest.RunWithOptions: a small max_payload, say).
func NewOnServer(t *testing.T, ns *natstest.Server, sc sim.Config, timeout time.Duration, l layout.Layout) *Harness {
	t.Helper()
	h := &Harness{T: t, NATS: ns}
	sc.Token = SimToken
	if sc.Profile == "" {
		sc.Profile = Profile(t)
	}
	h.Sim = sim.New(sc)
	srv := httptest.NewServer(h.Sim)
	t.Cleanup(func() { h.Sim.Close(); srv.Close() })
	h.SimURL = srv.URL
	u, _ := url.Parse(srv.URL)
	c, err := visengine.New(visengine.Config{BaseURL: u, Token: SimToken, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	h.Client = c
	h.Callbacks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(h.Callbacks.Close)
	h.Layout = l
	// A deadline of its own: without one, each JetStream request gets
	// nats.go's default 5 s, which a stream's creation has exceeded on
	// two cores shared with other tests.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h.Res, err = layout.Ensure(ctx, h.NATS.JS, h.Layout)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Schemas returns a schema cache over the harness's simulator.
func (h *Harness) Schemas() *schema.Cache {
	return schema.NewCache(h.Client, h.Res.Schemas, schema.CacheConfig{Logger: zerolog.Nop()})
}

// Start runs a pipeline (a "daemon") until the test ends; it returns a stop
// function that shuts it down and waits.
func (h *Harness) Start(opts ...Option) (stop func()) {
	h.T.Helper()
	hc := options{
		cfg: consumer.Config{Workers: 4, Retry: consumer.RetryPolicy{MinDelay: 100 * time.Millisecond, MaxDelay: time.Second},
			CallTimeout: 2 * time.Second, ReconcileSettle: 300 * time.Millisecond, AdoptGrace: time.Second,
			Logger: zerolog.New(zerolog.NewTestWriter(h.T)).Level(zerolog.WarnLevel), ReplayKey: ReplayKey,
			Callback: h.Marker},
		upstream: h.Client,
	}
	for _, o := range opts {
		o(&hc)
	}
	ctx := context.Background()
	if hc.schemas == nil {
		hc.schemas = h.Schemas()
	}
	deps := consumer.Deps{
		Resources: h.Res, Upstream: hc.upstream, Schemas: hc.schemas, Files: schema.ObjectStoreSource(h.NATS.JS),
		Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS, Metrics: hc.metrics,
	}
	if hc.deps != nil {
		hc.deps(&deps)
	}
	p, err := consumer.New(hc.cfg, deps)
	if err != nil {
		h.T.Fatal(err)
	}
	h.Pipeline = p
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ctx) })
	wg.Go(func() { _ = p.RunAdvisories(ctx) })
	wg.Go(func() { _ = p.RunHolds(ctx) })
	wg.Go(func() { _ = p.RunWallet(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	h.T.Cleanup(stop)
	return stop
}

// Marker is the callback_data the harness's pipelines send: a URL on
// Callbacks naming the submission, and a secret derived from it.
func (h *Harness) Marker(tenant, id string) *visengine.CallbackData {
	m := hmac.New(sha256.New, []byte("callback-key-for-tests"))
	m.Write([]byte(tenant + "/" + id))
	data, _ := json.Marshal(map[string]string{"secret": hex.EncodeToString(m.Sum(nil))})
	return &visengine.CallbackData{URL: h.Callbacks.URL + "/callbacks/" + tenant + "/" + id, Method: "JSON", Field: "data", Data: data}
}

// WithConfig changes the pipeline's configuration.
func WithConfig(f func(*consumer.Config)) Option { return func(c *options) { f(&c.cfg) } }

// WithDeps changes the pipeline's collaborators.
func WithDeps(f func(*consumer.Deps)) Option { return func(c *options) { c.deps = f } }

// WithSchemas replaces the schema cache.
func WithSchemas(s consumer.Schemas) Option { return func(c *options) { c.schemas = s } }

// WithMetrics records the pipeline's metrics in m.
func WithMetrics(m *consumer.Metrics) Option { return func(c *options) { c.metrics = m } }

// WithUpstream replaces the simulator's client.
func WithUpstream(u consumer.Upstream) Option { return func(c *options) { c.upstream = u } }

// ValidFields is a complete ISEE submission for the simulator's fixture.
func ValidFields(name string) map[string]any {
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

// Submission is a submission event for the simulator's ISEE.
func Submission(id string, fields map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "service": "ISEE", "fields": fields,
		"options": []string{"urgenza"}, "metadata": map[string]string{"employee_id": "7781"}})
	return b
}

// Publish puts a raw submission on Tenant's subject.
func (h *Harness) Publish(data []byte, hdr nats.Header) {
	h.T.Helper()
	m := nats.NewMsg(h.Res.Layout.SubmissionSubject(Tenant))
	m.Data = data
	for k, v := range hdr {
		m.Header[k] = v
	}
	if _, err := h.NATS.JS.PublishMsg(context.Background(), m); err != nil {
		h.T.Fatal(err)
	}
}

// WaitFor polls cond until it holds or the deadline passes.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitExplained(t, d, what, cond, nil)
}

// WaitExplained is WaitFor whose failure message ends with what explain
// says (where things stand), called once, at the timeout.
func WaitExplained(t testing.TB, d time.Duration, what string, cond func() bool, explain func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			if explain != nil {
				t.Fatalf("timed out after %s waiting for %s: %s", d, what, explain())
			}
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Record returns Tenant's submission's record, or nil.
func (h *Harness) Record(id string) *record.Record {
	r, _, err := record.NewStore(h.Res.Records).Get(context.Background(), Tenant, id)
	if err != nil {
		return nil
	}
	return r
}

// WaitState waits until Tenant's submission's record is in state. The
// pipeline stores the record first, then the dead letter, the event and the
// tracking task with the ledger entry, then acknowledges (consumer's
// finish): a test that reads any of those after WaitState waits for it
// (WaitLastEvent, WaitFor), or for the message acknowledged.
func (h *Harness) WaitState(id, state string) *record.Record {
	h.T.Helper()
	var r *record.Record
	WaitFor(h.T, 20*time.Second, "submission "+id+" to be "+state, func() bool {
		r = h.Record(id)
		return r != nil && r.State == state
	})
	return r
}

// Events returns the events stored for Tenant's submission, oldest first.
func (h *Harness) Events(id string) []publisher.Event {
	h.T.Helper()
	l := h.Res.Layout
	raws, err := publisher.ReadEvents(context.Background(), h.NATS.JS, l.EventsStream(), l.Events(), Tenant, id)
	if err != nil {
		h.T.Fatal(err)
	}
	out := make([]publisher.Event, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			h.T.Fatal(err)
		}
	}
	return out
}

// EventTypes returns the types of Events.
func (h *Harness) EventTypes(id string) []string {
	var out []string
	for _, ev := range h.Events(id) {
		out = append(out, ev.Type)
	}
	return out
}

// WaitLastEvent waits until the last event about submission id is of
// type typ (iseed.submission.failed, …).
func (h *Harness) WaitLastEvent(id, typ string) {
	h.T.Helper()
	WaitFor(h.T, 10*time.Second, id+"'s last event "+typ, func() bool {
		evs := h.Events(id)
		return len(evs) > 0 && evs[len(evs)-1].Type == typ
	})
}

// DeadLetters lists every dead letter.
func (h *Harness) DeadLetters() []dlq.DeadLetter {
	h.T.Helper()
	dls, err := h.Queue().List(context.Background(), dlq.Filter{})
	if err != nil {
		h.T.Fatal(err)
	}
	return dls
}

// Queue is the operator's view of the DLQ, signing replays with ReplayKey.
func (h *Harness) Queue() *dlq.Queue {
	return dlq.NewQueue(h.NATS.JS, h.Res, ReplayKey, consumer.ReplayMsgID(h.Res.Layout))
}

// Counter is one of the simulator's counters.
func (h *Harness) Counter(key string) int { return h.Sim.Counters()[key] }

// PutRecord stores Tenant's record of submission id as an earlier delivery
// left it: claimed, one attempt, the fingerprint of Submission(id, fields),
// then changed by mod.
func (h *Harness) PutRecord(id string, fields map[string]any, mod func(*record.Record)) {
	h.T.Helper()
	sub, err := consumer.DecodeSubmission(Submission(id, fields))
	if err != nil {
		h.T.Fatal(err)
	}
	rec := &record.Record{Tenant: Tenant, ID: id, Fingerprint: sub.Fingerprint(), Generation: 1,
		State: record.StateClaimed, Attempts: 1}
	mod(rec)
	if _, err := record.NewStore(h.Res.Records).Create(context.Background(), rec); err != nil {
		h.T.Fatal(err)
	}
}
