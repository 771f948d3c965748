package publisher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Kinds of tenant event consumers: one per event subject family.
const (
	KindStatus    = "status"
	KindDocuments = "documents"
)

// TenantConsumer is the name of a tenant's durable consumer of one kind on
// the events stream: "<tenant>-status" or "<tenant>-documents". Tenants
// bind these by name; the names of two tenants never collide (a name ends
// in exactly one of the two suffixes).
func TenantConsumer(tenant, kind string) string { return tenant + "-" + kind }

// TenantConsumers returns the configurations of a tenant's two durable
// pull consumers on the events stream: explicit acks, every event kept in
// the stream (a consumer made after the tenant's first events still
// delivers them), the server's defaults otherwise (30 s ack wait, 1,000
// unacknowledged events). An operator may change them with `nats consumer
// edit`; iseed never overwrites an existing pull consumer.
func TenantConsumers(s Subjects, tenant string) []jetstream.ConsumerConfig {
	of := map[string]string{KindStatus: s.Status(tenant, "*"), KindDocuments: s.Document(tenant, "*")}
	var out []jetstream.ConsumerConfig
	for _, kind := range []string{KindStatus, KindDocuments} {
		out = append(out, jetstream.ConsumerConfig{
			Durable:       TenantConsumer(tenant, kind),
			Description:   fmt.Sprintf("iseed: %s events of tenant %s", kind, tenant),
			FilterSubject: strings.TrimSuffix(of[kind], "*") + ">",
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
	}
	return out
}

// EnsureTenantConsumers makes sure a tenant's two durable consumers exist
// on stream as pull consumers, and returns the names of the push consumers
// it replaced.
//
// Tenants create no consumer in iseed's account: the JetStream API cannot
// narrow a consumer's deliver subject, and a tenant's push consumer aimed
// at a pull consumer's request subject ($JS.API.CONSUMER.MSG.NEXT.…)
// makes that consumer hand its messages, any tenant's, to nobody
// (docs/security.md). So iseed makes them. A consumer of one of these
// names that delivers somewhere (one a tenant made before, when it could)
// is deleted and made again as a pull consumer: it then delivers the
// stream's events from the start, and tenants de-duplicate by event id.
func EnsureTenantConsumers(ctx context.Context, js jetstream.JetStream, stream string, s Subjects, tenant string) ([]string, error) {
	var replaced []string
	for _, cfg := range TenantConsumers(s, tenant) {
		_, err := js.Consumer(ctx, stream, cfg.Durable)
		switch {
		case err == nil:
			continue // a pull consumer: the tenant's, whatever its settings
		case errors.Is(err, jetstream.ErrConsumerNotFound):
		case !errors.Is(err, jetstream.ErrNotPullConsumer):
			return replaced, fmt.Errorf("publisher: consumer %s: %w", cfg.Durable, err)
		default:
			if err := js.DeleteConsumer(ctx, stream, cfg.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return replaced, fmt.Errorf("publisher: delete push consumer %s: %w", cfg.Durable, err)
			}
			replaced = append(replaced, cfg.Durable)
		}
		_, err = js.CreateConsumer(ctx, stream, cfg)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerExists) {
			return replaced, fmt.Errorf("publisher: create consumer %s: %w", cfg.Durable, err)
		}
	}
	return replaced, nil
}

// MaxTokenLen is the longest tenant or submission id iseed accepts.
const MaxTokenLen = 64

// ValidToken reports whether s is 1..MaxTokenLen characters of
// [A-Za-z0-9_-]: a tenant or a submission id iseed accepts
// (record.ValidToken), safe as a subject token, a KV key part and, for a
// tenant, in a consumer name.
func ValidToken(s string) bool {
	if len(s) == 0 || len(s) > MaxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ensureTenant makes the tenant's consumers before its first event from
// this publisher, and looks again at its first event after Recheck, or
// after a publish found no stream; an error fails the publish, to be
// retried with it, so that no event is announced as published before its
// tenant can read it. Consumers made again after events (the stream made
// anew between two of this publisher's events) deliver them all the same:
// they deliver the stream from its start.
func (p *Publisher) ensureTenant(ctx context.Context, tenant string) error {
	if p.eventsStream == "" || !ValidToken(tenant) {
		return nil // no event of such a tenant is stored either
	}
	now := time.Now()
	if at, ok := p.ensured.Load(tenant); ok && now.Sub(at.(time.Time)) < p.recheck {
		return nil
	}
	if _, err := EnsureTenantConsumers(ctx, p.js, p.eventsStream, p.subjects, tenant); err != nil {
		return err
	}
	p.ensured.Store(tenant, now)
	return nil
}
