package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/overview"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// testToken is the console token of the tests that configure one.
const testToken = "console-token-for-tests-0123456789"

// site is a console served over HTTP on loopback, on a pipeline harness.
type site struct {
	h    *pipetest.Harness
	ov   *overview.Overview
	c    *console.Console
	url  string
	logs *pipetest.Buffer // what the console logged (warnings and worse)
}

// newSite serves a console with token ("" read-only) over h's layout, with
// an overview running until the test ends.
func newSite(t *testing.T, h *pipetest.Harness, token string, spend func(context.Context) (*console.Spend, error)) *site {
	t.Helper()
	return newSiteWith(t, h, console.Config{Token: token}, spend)
}

// newSiteWith is newSite with cfg; its Listen defaults to 127.0.0.1:0 and
// its Logger is the test's.
func newSiteWith(t *testing.T, h *pipetest.Harness, cfg console.Config, spend func(context.Context) (*console.Spend, error)) *site {
	t.Helper()
	return newSiteOver(t, h, cfg, spend, h.NATS.JS, h.Res)
}

// newSiteOver is newSiteWith whose console reads NATS through js and res
// (a connection through a natstest.DropProxy, say) instead of h's, its
// dead letters too.
func newSiteOver(t *testing.T, h *pipetest.Harness, cfg console.Config, spend func(context.Context) (*console.Spend, error),
	js jetstream.JetStream, res *layout.Resources) *site {
	t.Helper()
	return newSiteOn(t, h, cfg, spend, js, res, nil)
}

// newSiteDropping is newSiteWith whose console reads NATS through a
// natstest.DropProxy that drops the requests drop names (set before the
// console connects); the proxy counts what it dropped.
func newSiteDropping(t *testing.T, h *pipetest.Harness, cfg console.Config, drop func(subject string) bool) (*site, *natstest.DropProxy) {
	t.Helper()
	proxy := natstest.NewDropProxy(t, h.NATS.Server.Addr().String())
	proxy.Drop = drop
	nc, js := natstest.Connect(t, proxy.URL)
	t.Cleanup(nc.Close)
	res, err := layout.Ensure(context.Background(), js, h.Res.Layout)
	if err != nil {
		t.Fatal(err)
	}
	return newSiteOver(t, h, cfg, nil, js, res), proxy
}

// newSiteOn is newSiteOver whose console reaches the dead letters through
// letters(q) instead of q itself (nil: q): a test's wrapper of the queue.
func newSiteOn(t *testing.T, h *pipetest.Harness, cfg console.Config, spend func(context.Context) (*console.Spend, error),
	js jetstream.JetStream, res *layout.Resources, letters func(q *dlq.Queue) console.DeadLetters) *site {
	t.Helper()
	logs := &pipetest.Buffer{}
	log := zerolog.New(io.MultiWriter(zerolog.NewTestWriter(t), logs)).Level(zerolog.WarnLevel)
	ov, err := overview.New(overview.Config{Logger: log}, overview.Deps{Resources: h.Res,
		Gauges: func() overview.Gauges { return overview.Gauges{CallsPerSecond: 1.5, RateLimit: 10} },
		Paused: pausedIn(h)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.Logger = log
	q := dlq.NewQueue(js, res, pipetest.ReplayKey, consumer.ReplayMsgID(res.Layout))
	var dead console.DeadLetters = q
	if letters != nil {
		dead = letters(q)
	}
	c, err := console.New(cfg, console.Deps{Overview: ov, DeadLetters: dead, Resources: res, JS: js, Spend: spend})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = ov.Run(ctx) })
	wg.Go(func() { _ = c.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics\n")) })
	c.Register(mux)
	srv := httptest.NewServer(console.Secure(mux)) // as cmd/iseed serves it
	t.Cleanup(srv.Close)
	for what, ready := range map[string]<-chan struct{}{"overview": ov.Ready(), "console": c.Ready()} {
		select {
		case <-ready:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s not ready", what)
		}
	}
	return &site{h: h, ov: ov, c: c, url: srv.URL, logs: logs}
}

// deadLetter stores a dead letter of submission id (tenant acme) as the
// pipeline would, and returns its sequence.
func deadLetter(t *testing.T, h *pipetest.Harness, id, reason string, payload []byte) uint64 {
	t.Helper()
	l := h.Res.Layout
	dl := dlq.DeadLetter{OriginalSubject: l.SubmissionSubject(pipetest.Tenant), StreamSeq: 1, Tenant: pipetest.Tenant,
		SubmissionID: id, Reason: reason, Error: "test", Generation: 1, FirstFailure: time.Now(), LastFailure: time.Now()}
	if err := dlq.Publish(context.Background(), h.NATS.JS, l, dl, payload, dlq.MsgID(pipetest.Tenant, id, 1, reason)); err != nil {
		t.Fatal(err)
	}
	msg, err := h.Res.DLQ.GetLastMsgForSubject(context.Background(), l.DLQSubject(pipetest.Tenant, id))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Sequence
}
