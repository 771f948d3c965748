package publisher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SpecVersion is the CloudEvents version of every event.
const SpecVersion = "1.0"

// Event is a CloudEvents 1.0 envelope in structured JSON mode.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// Config says where events go.
type Config struct {
	// Prefix is the first subject token, default "iseed".
	Prefix string
	// Source is the CloudEvents source, default "urn:iseed".
	Source string
	// EventsStream, when set, is the events stream on which the publisher
	// makes each tenant's two durable consumers (EnsureTenantConsumers)
	// before it publishes the tenant's first event.
	EventsStream string
	// Recheck is how long the publisher trusts that a tenant's consumers
	// exist: the tenant's first event after it looks again (two consumer
	// infos), so that consumers deleted with the events stream (made anew
	// while iseed runs) or on their own come back. Default 10 minutes:
	// each look is two JetStream API requests per tenant and publisher.
	Recheck time.Duration
}

// Publisher publishes events on JetStream.
type Publisher struct {
	js       jetstream.JetStream
	subjects Subjects
	source   string

	eventsStream string
	recheck      time.Duration
	ensured      sync.Map // tenant → when its consumers were last seen to exist (time.Time)
}

// New returns a Publisher writing through js.
func New(js jetstream.JetStream, cfg Config) *Publisher {
	if cfg.Prefix == "" {
		cfg.Prefix = "iseed"
	}
	if cfg.Source == "" {
		cfg.Source = "urn:iseed"
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = 10 * time.Minute
	}
	return &Publisher{js: js, subjects: SubjectsFor(cfg.Prefix), source: cfg.Source, eventsStream: cfg.EventsStream, recheck: cfg.Recheck}
}

// StatusSubject is the subject of status events for one submission.
func (p *Publisher) StatusSubject(tenant, submissionID string) string {
	return p.subjects.Status(tenant, submissionID)
}

// DocumentSubject is the subject of document events for one submission.
func (p *Publisher) DocumentSubject(tenant, submissionID string) string {
	return p.subjects.Document(tenant, submissionID)
}

// Status publishes a status event and waits for the stream to store it.
func (p *Publisher) Status(ctx context.Context, s Status) error {
	ev, err := p.StatusEvent(s)
	if err != nil {
		return err
	}
	if err := p.ensureTenant(ctx, s.Tenant); err != nil {
		return err
	}
	return p.publish(ctx, p.StatusSubject(s.Tenant, s.SubmissionID), ev)
}

// DocumentReady publishes a document-ready event and waits for the stream to store it.
func (p *Publisher) DocumentReady(ctx context.Context, d DocumentReady) error {
	ev, err := p.DocumentEvent(d)
	if err != nil {
		return err
	}
	if err := p.ensureTenant(ctx, d.Tenant); err != nil {
		return err
	}
	return p.publish(ctx, p.DocumentSubject(d.Tenant, d.SubmissionID), ev)
}

func (p *Publisher) publish(ctx context.Context, subject string, ev *Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("publisher: encode %s: %w", ev.Type, err)
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, ev.ID)
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	msg.Header.Set("Ce-Type", ev.Type)
	if _, err := p.js.PublishMsg(ctx, msg); err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			// No stream: made anew, it has none of the tenants' consumers.
			p.ensured.Clear()
		}
		return fmt.Errorf("publisher: publish %s on %s: %w", ev.Type, subject, err)
	}
	return nil
}

func (p *Publisher) envelope(id, typ, subject string, at time.Time, data any) (*Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("publisher: encode %s data: %w", typ, err)
	}
	return &Event{
		SpecVersion:     SpecVersion,
		ID:              id,
		Source:          p.source,
		Type:            typ,
		Subject:         subject,
		Time:            at.UTC().Truncate(time.Millisecond),
		DataContentType: "application/json",
		Data:            raw,
	}, nil
}

// Account publishes an account-wide event on <prefix>.account.wallet. Its
// id names the type and the minute, so that replicas seeing the same change
// within a minute store one.
func (p *Publisher) Account(ctx context.Context, e AccountEvent) error {
	key := e.At
	if !e.EmptySince.IsZero() {
		key = e.EmptySince
	}
	id := e.Type + "." + key.UTC().Truncate(time.Minute).Format("20060102T1504")
	ev, err := p.envelope(id, e.Type, "wallet", e.At, e)
	if err != nil {
		return err
	}
	return p.publish(ctx, p.subjects.Account(), ev)
}
