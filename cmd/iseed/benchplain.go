package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// plainPipeline is what iseed is compared with: a JetStream pipeline that
// does the same work per submission with no idempotency. Each worker takes
// a message, decodes and validates it (the same schema, so that the POST
// is the same), POSTs it to the same simulator, publishes the submitted
// status event asynchronously (with its Nats-Msg-Id, on a stream like
// iseed's events stream) and acknowledges the message without waiting for
// the publish. Nothing is claimed or recorded: a crash may POST twice.
type plainPipeline struct {
	nc       *nats.Conn // its own connection: its messages are counted apart
	js       jetstream.JetStream
	cons     jetstream.Consumer
	up       *visengine.Client
	svc      *schema.Service
	events   *publisher.Publisher
	subjects plainSubjects
	workers  int
	log      zerolog.Logger
}

// plainSubjects are the plain pipeline's subjects, under the run's prefix.
type plainSubjects struct{ prefix string }

func (s plainSubjects) in() string              { return s.prefix + ".plain.submissions" }
func (s plainSubjects) status(id string) string { return s.prefix + ".plain.status." + id }
func (s plainSubjects) statusAll() string       { return s.prefix + ".plain.status.*" }
func (s plainSubjects) stream(kind string) string {
	return strings.ToUpper(s.prefix) + "_PLAIN_" + kind
}

// newPlainPipeline makes the plain pipeline's streams and durable consumer
// on the daemon's server, with the daemon's storage, replicas, AckWait and
// MaxAckPending.
func newPlainPipeline(ctx context.Context, d *daemon, url string, workers int) (*plainPipeline, error) {
	nc, err := nats.Connect(url, nats.Name("iseed bench plain pipeline"), nats.ErrorHandler(asyncErrorLogger(d.log)))
	if err != nil {
		return nil, fmt.Errorf("plain pipeline: %w", err)
	}
	p := &plainPipeline{nc: nc, up: d.upstream, subjects: plainSubjects{d.res.Layout.Prefix}, workers: workers, log: d.log}
	if err := p.setUp(ctx, d.res.Layout, d.res.Schemas); err != nil {
		nc.Close()
		return nil, err
	}
	return p, nil
}

func (p *plainPipeline) setUp(ctx context.Context, l layout.Layout, schemas jetstream.KeyValue) error {
	var err error
	if p.js, err = jetstream.New(p.nc); err != nil {
		return err
	}
	in, err := p.js.CreateStream(ctx, jetstream.StreamConfig{Name: p.subjects.stream("SUBMISSIONS"),
		Subjects: []string{p.subjects.in()}, Storage: l.Storage, Replicas: l.Replicas, Duplicates: l.Duplicates})
	if err != nil {
		return fmt.Errorf("plain pipeline: stream: %w", err)
	}
	if _, err = p.js.CreateStream(ctx, jetstream.StreamConfig{Name: p.subjects.stream("EVENTS"),
		Subjects: []string{p.subjects.statusAll()}, Storage: l.Storage, Replicas: l.Replicas, Duplicates: l.Duplicates}); err != nil {
		return fmt.Errorf("plain pipeline: events stream: %w", err)
	}
	if p.cons, err = in.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "plain",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: l.AckWait, MaxAckPending: l.MaxAckPend, Replicas: l.Replicas}); err != nil {
		return fmt.Errorf("plain pipeline: consumer: %w", err)
	}
	cache := schema.NewCache(p.up, schemas, schema.CacheConfig{TTL: time.Hour, Logger: p.log})
	if p.svc, err = cache.Service(ctx, "ISEE"); err != nil {
		return fmt.Errorf("plain pipeline: schema: %w", err)
	}
	p.events = publisher.New(p.js, publisher.Config{Prefix: p.subjects.prefix})
	return nil
}

// run consumes until ctx is done, then flushes its publishes.
func (p *plainPipeline) run(ctx context.Context) error {
	err := (&workpool.Pool{Name: "plain", Consumer: p.cons, Workers: p.workers, Handle: p.handle,
		HandBack: time.Second, Shutdown: 10 * time.Second, Logger: p.log}).Run(ctx)
	select {
	case <-p.js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
	}
	return err
}

func (p *plainPipeline) close() { p.nc.Close() }

func (p *plainPipeline) handle(ctx context.Context, msg jetstream.Msg) {
	if err := p.process(ctx, msg); err != nil {
		p.log.Warn().Err(err).Msg("plain pipeline: message handed back")
		_ = msg.NakWithDelay(time.Second)
		return
	}
	_ = msg.Ack()
}

func (p *plainPipeline) process(ctx context.Context, msg jetstream.Msg) error {
	sub, err := consumer.DecodeSubmission(msg.Data())
	if err != nil {
		return err
	}
	prep, err := p.svc.Validate(schema.Input{Fields: sub.Fields, Options: sub.Options}, schema.Limits{})
	if err != nil {
		return err
	}
	r, err := p.up.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: prep.HashVisura, JSONVisura: prep.JSONVisura, Opzioni: prep.Opzioni})
	if err != nil {
		return err
	}
	price := prep.Price
	ev, err := p.events.StatusEvent(publisher.Status{SubmissionID: sub.ID, Tenant: benchTenant, State: publisher.StateSubmitted, Generation: 1,
		Service: p.svc.Name, ServiceHash: p.svc.Hash, RequestID: r.ID, StatoRichiesta: r.StatoRichiesta, Price: &price, At: time.Now()})
	if err != nil {
		return err
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	m := nats.NewMsg(p.subjects.status(sub.ID))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, ev.ID)
	m.Header.Set("Ce-Type", ev.Type)
	if _, err := p.js.PublishMsgAsync(m); err != nil {
		return errors.Join(errors.New("plain pipeline: publish"), err)
	}
	return nil
}
