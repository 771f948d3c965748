package retention

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/internal/jsread"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Config tunes the Scrubber.
type Config struct {
	// After is how old a closed record's last write must be before it is
	// scrubbed. It must be positive: the caller does not build a Scrubber
	// when the retention is off.
	After time.Duration
	Every time.Duration // how often Run makes a pass (default 1h)
	Batch int           // entries fetched at once, at most (default 256)
	// FetchWait bounds each fetch (default 2s): one that brings nothing
	// while entries remain, or that is answered "no responders" (a
	// cluster's), is tried again, twice in a row at most (jsread.Read).
	FetchWait time.Duration
	Now       func() time.Time // the NATS server's time (default time.Now)
	Logger    zerolog.Logger
}

func (c Config) withDefaults() Config {
	if c.Every <= 0 {
		c.Every = time.Hour
	}
	if c.Batch <= 0 {
		c.Batch = 256
	}
	if c.FetchWait <= 0 {
		c.FetchWait = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Deps are the Scrubber's collaborators.
type Deps struct {
	JS      jetstream.JetStream
	Records jetstream.KeyValue // the records bucket (layout.Resources.Records)
	Keys    jetstream.KeyValue // where the checkpoint is kept (layout.Resources.Keys)
	Metrics *Metrics           // nil: not counted
}

// Scrubber scrubs old closed records, pass after pass.
type Scrubber struct {
	cfg   Config
	d     Deps
	store *record.Store
	cp    checkpoints
	log   zerolog.Logger
}

// New returns a Scrubber.
func New(cfg Config, d Deps) (*Scrubber, error) {
	if cfg.After <= 0 {
		return nil, fmt.Errorf("retention: After must be positive, got %s", cfg.After)
	}
	if d.JS == nil || d.Records == nil || d.Keys == nil {
		return nil, errors.New("retention: JS, Records and Keys are required")
	}
	cfg = cfg.withDefaults()
	return &Scrubber{cfg: cfg, d: d, store: record.NewStore(d.Records), cp: checkpoints{kv: d.Keys},
		log: cfg.Logger.With().Str("component", "retention").Logger()}, nil
}

// Result counts what one pass did.
type Result struct {
	Read     int // entries read
	Scrubbed int // records scrubbed
	Changed  int // records changed meanwhile: left for a later pass
	Skipped  int // entries that are not a record (a deletion, an undecodable value)
}

// Run makes a pass at once, then every Config.Every, until ctx is done. A
// pass that fails is logged and made again at the next interval, from the
// checkpoint it reached.
func (s *Scrubber) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		res, err := s.Scrub(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn().Err(err).Int("read", res.Read).Int("scrubbed", res.Scrubbed).
				Msg("record scrub failed; going on from its checkpoint at the next interval")
		case res.Read > 0:
			s.log.Info().Int("read", res.Read).Int("scrubbed", res.Scrubbed).Int("changed", res.Changed).
				Int("skipped", res.Skipped).Msg("records scrubbed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Scrub makes one pass: it reads the records bucket's stream from the
// checkpoint up to the first entry written after now minus Config.After,
// scrubs each closed record read, and moves the checkpoint past what it
// read. On an error it keeps what it did and the checkpoint it reached.
func (s *Scrubber) Scrub(ctx context.Context) (Result, error) {
	cutoff := s.cfg.Now().Add(-s.cfg.After)
	cp, err := s.cp.load(ctx)
	if err != nil {
		return Result{}, err
	}
	if cp.behind() {
		s.log.Info().Uint64("checkpoint", cp.Next).
			Msg("the record scrub removes more than when its checkpoint was written: starting over, to scrub the records scrubbed before of the rest")
		if err := s.cp.reset(ctx); err != nil {
			return Result{}, err
		}
		cp = checkpoint{}
	}
	from := cp.Next
	stream, err := s.d.JS.Stream(ctx, streamOf(s.d.Records))
	if err != nil {
		return Result{}, fmt.Errorf("retention: records stream: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("retention: records stream: %w", err)
	}
	if from > info.State.LastSeq+1 || !cp.of(info.Created) {
		// Another stream's, or past this one's end: the bucket was deleted
		// and created again, its sequences starting over (and perhaps
		// already past the old checkpoint). Start over with them.
		s.log.Warn().Uint64("checkpoint", from).Uint64("last_seq", info.State.LastSeq).
			Msg("the record scrub's checkpoint is not of the records stream as it is now: the bucket was made anew; starting over")
		if from, err = 0, s.cp.reset(ctx); err != nil {
			return Result{}, err
		}
	}
	if info.State.Msgs == 0 || info.State.LastSeq < from || !info.State.FirstTime.Before(cutoff) {
		return Result{}, nil // nothing old enough: no consumer needed
	}
	p := pass{s: s, cutoff: cutoff, next: max(from, 1), stream: info.Created}
	err = p.read(ctx, stream)
	if _, serr := s.cp.save(ctx, p.next, p.stream); serr != nil && err == nil {
		err = serr
	}
	return p.res, err
}

// streamOf is the name of a KV bucket's stream.
func streamOf(kv jetstream.KeyValue) string { return "KV_" + kv.Bucket() }

// pass is one Scrub: where it is and what it did.
type pass struct {
	s      *Scrubber
	cutoff time.Time
	next   uint64    // the first stream sequence not yet dealt with
	stream time.Time // when the records stream was created: whose sequences next counts
	res    Result
}

// read reads entries in order from p.next until one is too recent, the
// stream as it was when the read began ends (jsread.Read) or something
// fails, saving the checkpoint after every Config.Batch entries.
func (p *pass) read(ctx context.Context, stream jetstream.Stream) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: p.next}
	o := jsread.Options{Batch: p.s.cfg.Batch, Wait: p.s.cfg.FetchWait, Noun: "entries"}
	var failed error // the pass's own, not the read's
	err := jsread.Read(ctx, stream, cfg, o, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		if !meta.Timestamp.Before(p.cutoff) {
			return jsread.Stop // written since the cutoff, as is everything after it
		}
		if failed = p.entry(ctx, m, meta.Sequence.Stream); failed != nil {
			return failed
		}
		p.next = meta.Sequence.Stream + 1
		if p.res.Read%p.s.cfg.Batch != 0 {
			return nil
		}
		ahead, err := p.s.cp.save(ctx, p.next, p.stream)
		if failed = err; err == nil && ahead {
			// Ahead: another replica's pass has read this far already and
			// goes on; reading it all again would only double the work
			// (on an upgrade, every replica starts a pass over every old
			// record at once).
			return jsread.Stop
		}
		return err
	})
	if failed != nil || err == nil {
		return failed
	}
	return fmt.Errorf("retention: read the records: %w", err)
}

// entry scrubs the record of one entry (rev is its revision) when it is
// closed and holds something to scrub.
func (p *pass) entry(ctx context.Context, m jetstream.Msg, rev uint64) error {
	p.res.Read++
	key, ok := strings.CutPrefix(m.Subject(), "$KV."+p.s.d.Records.Bucket()+".")
	if !ok || m.Headers().Get("KV-Operation") != "" { // a deletion or purge marker
		p.res.Skipped++
		return nil
	}
	rec, err := record.Decode(m.Data())
	if err != nil || record.Key(rec.Tenant, rec.ID) != key {
		p.res.Skipped++
		return nil
	}
	if !rec.Scrub(p.s.cfg.Now()) {
		return nil
	}
	_, err = p.s.store.Update(ctx, rec, rev)
	switch {
	case errors.Is(err, record.ErrRevision):
		p.res.Changed++ // the change is a later entry: a later pass sees it
		return nil
	case err != nil:
		return fmt.Errorf("retention: %w", err)
	}
	p.res.Scrubbed++
	p.s.d.Metrics.scrubbed()
	return nil
}

// Metrics counts what the Scrubber does.
type Metrics struct {
	records prometheus.Counter
}

// NewMetrics registers the Scrubber's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{records: prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "iseed", Name: "records_scrubbed_total",
		Help: "Closed submission records scrubbed of their metadata, person key, problem texts, document file name and any upstream state the API does not publish (ISEED_RECORD_SCRUB_AFTER).",
	})}
	reg.MustRegister(m.records)
	return m
}

func (m *Metrics) scrubbed() {
	if m != nil {
		m.records.Inc()
	}
}
