package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/internal/jsread"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultMaxAge is how long entries are kept when the stream config gets
// zero: about 13 months, so that last year's same month can be compared.
const DefaultMaxAge = 400 * 24 * time.Hour

// ReadSlack is how long before a period's start Entries begins reading the
// stream. An entry is stored after its request was created, so one whose
// At falls in the period was stored after the period began, give or take
// the disagreement of the upstream's clock and the NATS servers'.
const ReadSlack = time.Hour

// DefaultFetchWait bounds each batch Entries fetches when Config.FetchWait
// is zero.
const DefaultFetchWait = 5 * time.Second

// StreamName is the ledger stream's name: "<PREFIX>_LEDGER".
func StreamName(prefix string) string { return strings.ToUpper(prefix) + "_LEDGER" }

// Subject is where the entry of one request lives:
// "<prefix>.ledger.<tenant>.<request id>".
func Subject(prefix, tenant, requestID string) string {
	return prefix + ".ledger." + tenant + "." + requestID
}

// StreamConfig is the ledger stream: one message per request, kept maxAge
// (zero: DefaultMaxAge). MaxMsgsPerSubject 1 with DiscardNewPerSubject
// makes the server refuse a second entry for a request whatever the
// duplicate window; DenyDelete and DenyPurge keep it append-only.
func StreamConfig(prefix string, replicas int, storage jetstream.StorageType, maxAge time.Duration) jetstream.StreamConfig {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return jetstream.StreamConfig{
		Name:                 StreamName(prefix),
		Description:          "iseed: one entry per paid upstream request",
		Subjects:             []string{Subject(prefix, "*", "*")},
		Retention:            jetstream.LimitsPolicy,
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		MaxAge:               maxAge,
		DenyDelete:           true,
		DenyPurge:            true,
		Storage:              storage,
		Replicas:             replicas,
	}
}

// EnsureStream creates or updates, idempotently, the ledger stream.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	// Create first: replicas starting together then never cross a create
	// with an update of the new stream, which nats-server 2.15 can leave
	// unanswered (see layout.EnsureKeyValue).
	st, err := js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		st, err = js.UpdateStream(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: stream %s: %w", cfg.Name, err)
	}
	return st, nil
}

// Config configures a Ledger.
type Config struct {
	Prefix    string           // subject prefix, default "iseed"
	Now       func() time.Time // the clock for entries without At; default time.Now
	FetchWait time.Duration    // bounds each batch Entries fetches; default DefaultFetchWait
}

// Ledger records and reads entries. It is safe for concurrent use.
type Ledger struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	cfg    Config
}

// New returns a Ledger writing through js to stream (see EnsureStream).
func New(js jetstream.JetStream, stream jetstream.Stream, cfg Config) *Ledger {
	if cfg.Prefix == "" {
		cfg.Prefix = "iseed"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FetchWait <= 0 {
		cfg.FetchWait = DefaultFetchWait
	}
	return &Ledger{js: js, stream: stream, cfg: cfg}
}

// ErrForeign reports a request whose subject holds a message Record did
// not write: the stream keeps it (DenyDelete) and refuses a second one, so
// the request can never be entered.
var ErrForeign = errors.New("its subject holds a message that is not its entry")

// Record enters e, once: a request already entered is a success, and the
// first entry stays (the stream refuses a second message on the
// request's subject). An At of zero is now. It returns an error matching
// ErrInvalid for an entry that cannot be entered, and one matching
// ErrForeign for a request whose subject another message took: neither
// changes when tried again.
func (l *Ledger) Record(ctx context.Context, e Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = l.cfg.Now()
	}
	e.At = e.At.UTC()
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("ledger: encode %s: %w", e.RequestID, err)
	}
	m := nats.NewMsg(Subject(l.cfg.Prefix, e.Tenant, e.RequestID))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, "ledger."+e.Tenant+"."+e.RequestID)
	_, err = l.js.PublishMsg(ctx, m, jetstream.WithExpectStream(StreamName(l.cfg.Prefix)))
	if err == nil {
		return nil
	}
	held, gerr := l.stream.GetLastMsgForSubject(ctx, m.Subject)
	if gerr != nil {
		return fmt.Errorf("ledger: record %s: %w", e.RequestID, err)
	}
	if prev, ok := l.entryOf(held.Subject, held.Data); ok && prev.Tenant == e.Tenant && prev.RequestID == e.RequestID {
		return nil // entered before
	}
	// Any client that may publish in the account can put a message on the
	// request's subject through a reply subject (docs/security.md); it is
	// not the entry, and the stream keeps it (DenyDelete): say so.
	return fmt.Errorf("ledger: record %s: %w (message %d): %w", e.RequestID, ErrForeign, held.Sequence, err)
}

// entryOf decodes a stored message as an entry: ok is false for a message
// Record did not write (not JSON, or not an entry of the request its
// subject names), which readers skip.
func (l *Ledger) entryOf(subject string, data []byte) (Entry, bool) {
	var e Entry
	if json.Unmarshal(data, &e) != nil || e.RequestID == "" || subject != Subject(l.cfg.Prefix, e.Tenant, e.RequestID) {
		return Entry{}, false
	}
	return e, true
}

// Entry returns the entry of tenant's request requestID, read from the
// stream's leader, and whether there is one: a message on its subject
// that Record did not write is none.
func (l *Ledger) Entry(ctx context.Context, tenant, requestID string) (Entry, bool, error) {
	if !record.ValidToken(tenant) || !record.ValidToken(requestID) {
		return Entry{}, false, nil // Record enters no such request
	}
	m, err := l.stream.GetLastMsgForSubject(ctx, Subject(l.cfg.Prefix, tenant, requestID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("ledger: read %s: %w", requestID, err)
	}
	e, ok := l.entryOf(m.Subject, m.Data)
	if !ok {
		return Entry{}, false, nil // not an entry: see Record
	}
	e.Recorded = m.Time
	return e, true, nil
}

// Visit calls fn with each entry of [from, to), of one tenant or of all
// (tenant ""), in the order the stream has them, reading as Entries does
// and keeping none: what sums a period (Report, the console's spend) holds
// only the sums, however many entries a month has.
//
// Read for every tenant, the stream is read whole, without a filter (it
// holds nothing but entries): a filter matching each entry's subject, one
// per request, made the server count the subjects it matches at each
// fetch's new consumer, every entry stored since from, and a month of an
// onboarding's 100,000 entries took seconds to read, most of them there.
func (l *Ledger) Visit(ctx context.Context, from, to time.Time, tenant string, fn func(Entry)) error {
	var filters []string
	if tenant != "" {
		filters = []string{Subject(l.cfg.Prefix, tenant, "*")}
	}
	start := from.Add(-ReadSlack)
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filters, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start}
	err := jsread.Read(ctx, l.stream, cfg, jsread.Options{Batch: 256, Wait: l.cfg.FetchWait, Noun: "entries"}, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		e, ok := l.entryOf(m.Subject(), m.Data())
		if ok && !e.At.Before(from) && e.At.Before(to) { // not an entry: see Record
			e.Recorded = meta.Timestamp
			fn(e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: read: %w", err)
	}
	return nil
}

// Entries returns the entries whose At falls in [from, to), of one tenant
// or of all (tenant ""), by At then request id.
//
// It reads the stream from ReadSlack before from to its end as it is when
// the read begins (jsread.Read: a fetch answered "no responders", a
// cluster's, or that brings nothing is tried again, twice in a row at
// most), since an entry recorded late (reconciled, adopted after an audit)
// is stored long after its At: the cost grows with what was recorded since
// from, not with the stream's age.
func (l *Ledger) Entries(ctx context.Context, from, to time.Time, tenant string) ([]Entry, error) {
	var out []Entry
	if err := l.Visit(ctx, from, to, tenant, func(e Entry) { out = append(out, e) }); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.RequestID, b.RequestID)
	})
	return out, nil
}
