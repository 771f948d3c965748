package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"
	shownpkg "github.com/iseed-dev/iseed/internal/shown"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newWatchCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print status and document events as they arrive",
		Long: "Prints one line per status or document event as it arrives, until interrupted: ids, states, service,\n" +
			"request, reason codes and counts, never the events' metadata, problem messages or the upstream's free text\n" +
			"(esito.info; a cancellation's reason, motivo_annullamento; a stato_richiesta the API does not publish, shown as\n" +
			"‹unpublished›), which may name the person. A document shows as its size,\n" +
			"SHA-256, type and object without the file name (acme/emp-7/9f86d081884c7d65/…): the file name is the\n" +
			"upstream's and may name the person; iseed status ID and iseed document get ID show the document.\n\n" +
			"When the connection to NATS is lost (the daemon's embedded server stopped, a network fault) it says so on\n" +
			"standard error and keeps reconnecting; events resume when it is back, from the first one it has not printed\n" +
			"(its consumer is made again at once, then after waits growing from 1 to 10 seconds while JetStream does not\n" +
			"answer). When NATS is lost while watch makes its consumer, it says so and tries again every 5 seconds. When\n" +
			"the events stream is deleted and made anew (iseed serve makes it again on start), it says so on standard error\n" +
			"within seconds and prints the new stream's events from its first. When the cluster node holding its consumer\n" +
			"fails while its connection, to another node, stays up, events pause for about 10 seconds (nats.go makes the\n" +
			"consumer again after two missed heartbeats), then resume from the first one it has not printed.",
		Args: noArgs,
	}
	tenant := tenantFlag(cmd.Flags(), "", "only this tenant's events (default every tenant)")
	all := cmd.Flags().Bool("all", false, "start from the oldest stored event instead of new ones only")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *tenant != "" && !record.ValidToken(*tenant) {
			return usagef("--tenant must be letters, digits, _ or -, got %q", *tenant)
		}
		c, err := openCLI(cmd.Context(), e.stderr, false, watchConnOptions(e.stderr)...)
		if err != nil {
			return err
		}
		defer c.close()
		policy := jetstream.DeliverNewPolicy
		if *all {
			policy = jetstream.DeliverAllPolicy
		}
		return watchEvents(cmd.Context(), c.js, c.layout, *tenant, "", policy, e.stdout, e.stderr)
	}
	return cmd
}

// watchConnOptions keep watch connected for as long as it runs, and say on
// w when the connection is lost and back: without them it went silent,
// and gave up for good after nats.go's default 60 reconnect attempts.
func watchConnOptions(w io.Writer) []nats.Option {
	return []nats.Option{
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return
			}
			fmt.Fprintf(w, "watch: lost the connection to NATS (%v); reconnecting, events resume when it is back\n", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			fmt.Fprintf(w, "watch: reconnected to NATS at %s\n", nc.ConnectedUrlRedacted())
		}),
	}
}

// watchEvents prints on w one line per event of a tenant's submission
// (tenant or id "" for all) until ctx is done.
//
// An events stream deleted and made anew (an operator clearing it, iseed
// serve making it again on start) numbers its events from 1 again, and the
// ordered consumer, which recreates itself when its stream is gone, goes on
// after the old stream's last sequence: it never printed the new stream's
// first events, and said nothing of it. watchEvents therefore checks every
// bucket.Recheck, with one stream info, that the stream is the one it
// began on; when it is not, it says so on note and follows the new one
// from its first event (every one was stored after the watch began),
// leaving out those the old consumer printed already. When the consumer
// cannot be made (NATS lost while it was, at the start or after a stream
// made anew), it says so on note and tries again at the next check.
func watchEvents(ctx context.Context, js jetstream.JetStream, l layout.Layout, tenant, id string, policy jetstream.DeliverPolicy, w, note io.Writer) error {
	st, err := js.Stream(ctx, l.EventsStream())
	if err != nil {
		return fmt.Errorf("events stream: %w", err)
	}
	if tenant == "" {
		tenant = "*"
	}
	if id == "" {
		id = "*"
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: l.Events().Of(tenant, id), DeliverPolicy: policy}
	if policy == jetstream.DeliverNewPolicy {
		// New events are those stored after this stream info, pinned as a
		// sequence: an ordered consumer made again before it delivered
		// anything (NATS lost and back) starts where its policy says, and
		// "new" then would begin at the reset, leaving out the events stored
		// while the connection was lost.
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, st.CachedInfo().State.LastSeq+1
	}
	p := &eventPrinter{w: w}
	created := st.CachedInfo().Created
	cc, err := p.follow(ctx, st, cfg)
	if err != nil {
		// NATS lost while the consumer was being made (its answer never
		// came back): watch ended here, though it was to keep reconnecting.
		// It tries again at each check instead, from the same sequence.
		cc = nil
		cantFollow(note, err)
	}
	defer func() {
		if cc != nil {
			cc.Stop()
		}
	}()
	check := time.NewTicker(bucket.Recheck)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-check.C:
		}
		info, err := st.Info(ctx)
		if err != nil {
			continue // deleted and not made again yet, or NATS unreachable: the consumer goes on
		}
		switch {
		case !info.Created.Equal(created):
			if cc != nil {
				p.anew(info.Created)
				cc.Stop()
				cc = nil
				fmt.Fprintf(note, "watch: the events stream was made anew (created %s); following the new one from its first event\n",
					info.Created.UTC().Format(time.RFC3339))
			}
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverAllPolicy, 0
		case cc != nil:
			p.prune(info.TimeStamp)
			continue
		}
		if cc, err = p.follow(ctx, st, cfg); err != nil {
			cc = nil
			cantFollow(note, err)
			continue
		}
		created = info.Created
	}
}

// cantFollow says on note that watch could not make its consumer and
// tries again at the next check.
func cantFollow(note io.Writer, err error) {
	fmt.Fprintf(note, "watch: cannot follow the events stream (%v); trying again in %s\n", err, bucket.Recheck)
}

// eventPrinter prints the events of one consumer at a time: watchEvents's
// of the moment.
type eventPrinter struct {
	// out serializes the writes to w, apart from mu: a write that blocks
	// (output nobody reads) must not keep watchEvents's checks, and so its
	// end, waiting for mu.
	out sync.Mutex
	w   io.Writer

	mu  sync.Mutex
	gen int // the consumer that prints; those before it are stopped
	// recent are the events printed since a little before the last check
	// found the stream unchanged: those of a stream made anew since are
	// among them.
	recent []printedEvent
	// skip are the sequences of the stream made anew that the old
	// consumer printed already.
	skip map[uint64]bool
}

// printedEvent is an event's stream sequence and the time it was stored.
type printedEvent struct {
	seq uint64
	at  time.Time
}

// clockSkew bounds how far apart the clocks of a cluster's servers are:
// the time a stream info was gathered and the time a stream was created
// may come from two of them.
const clockSkew = time.Minute

// follow starts an ordered consumer of st that prints what it delivers.
func (p *eventPrinter) follow(ctx context.Context, st jetstream.Stream, cfg jetstream.OrderedConsumerConfig) (jetstream.ConsumeContext, error) {
	oc, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	gen := p.gen
	p.mu.Unlock()
	return oc.Consume(func(msg jetstream.Msg) { p.print(gen, msg) })
}

// print prints msg, delivered by consumer gen, unless that consumer is
// stopped or the old one printed msg already.
func (p *eventPrinter) print(gen int, msg jetstream.Msg) {
	p.out.Lock()
	defer p.out.Unlock()
	if !p.printable(gen, msg) {
		return
	}
	fmt.Fprintln(p.w, eventLine(msg.Data()))
}

// printable reports whether msg, delivered by consumer gen, is to be
// printed, and notes it among the recent ones when it is. An event noted
// here and printed after anew is among those anew skips.
func (p *eventPrinter) printable(gen int, msg jetstream.Msg) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gen != p.gen {
		return false
	}
	if meta, err := msg.Metadata(); err == nil {
		if p.skip[meta.Sequence.Stream] {
			delete(p.skip, meta.Sequence.Stream)
			return false
		}
		p.recent = append(p.recent, printedEvent{seq: meta.Sequence.Stream, at: meta.Timestamp})
	}
	return true
}

// prune forgets the events stored before a stream info gathered at ts
// found the stream unchanged: a stream made anew later was created after
// them.
func (p *eventPrinter) prune(ts time.Time) {
	if ts.IsZero() {
		ts = time.Now()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recent = slices.DeleteFunc(p.recent, func(e printedEvent) bool { return e.at.Before(ts.Add(-clockSkew)) })
}

// anew stops the consumer of the moment from printing, and notes which
// events of the stream made anew at created it printed already.
func (p *eventPrinter) anew(created time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	for _, e := range p.recent {
		if !e.at.Before(created) {
			if p.skip == nil {
				p.skip = make(map[uint64]bool)
			}
			p.skip[e.seq] = true
		}
	}
	p.recent = nil
}

// eventLine renders one event for people: time, tenant/submission, state
// and what matters for that state. It names no personal data: of what an
// event carries, the document's file name may (the upstream's nome, often
// with the person's codice fiscale), so its object is shown without it.
// Every text is shown (quoted when a terminal would act on it), even those
// iseed writes as tokens: the stream is read as anyone who may publish on
// it wrote it, and one line stays one line.
func eventLine(data []byte) string {
	var ev publisher.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return fmt.Sprintf("(undecodable event, %d bytes)", len(data))
	}
	at := ev.Time.UTC().Format(time.RFC3339)
	if ev.Type == publisher.TypeDocumentReady {
		var d publisher.DocumentReady
		_ = json.Unmarshal(ev.Data, &d)
		line := fmt.Sprintf("%s %s/%s document_ready object=%s size=%d sha256=%s type=%s", at, shown(d.Tenant), shown(d.SubmissionID),
			shown(record.ScrubbedObject(d.Object)), d.Size, shown(d.SHA256), shown(d.ContentType))
		if d.Encrypted {
			line += " encrypted key=" + shown(d.KeyID)
		}
		if d.Stato != "" { // events from before the field have neither
			line += fmt.Sprintf(" stato=%q", d.Stato)
		}
		if d.Final {
			line += " final"
		}
		return line
	}
	var s publisher.Status
	_ = json.Unmarshal(ev.Data, &s)
	var b strings.Builder
	kind := strings.TrimPrefix(ev.Type, "iseed.submission.")
	fmt.Fprintf(&b, "%s %s/%s %s", at, shown(s.Tenant), shown(s.SubmissionID), shown(kind))
	if s.Service != "" {
		fmt.Fprintf(&b, " service=%q", s.Service)
	}
	if s.RequestID != "" {
		fmt.Fprintf(&b, " request=%s", shown(s.RequestID))
	}
	// A state the API does not publish is the upstream's free text, which
	// may name the person, as esito.info may: left out.
	switch st := shownpkg.State(s.StatoRichiesta); st {
	case "":
	case shownpkg.Unpublished:
		b.WriteString(" stato=" + st)
	default:
		fmt.Fprintf(&b, " stato=%q", st)
	}
	if s.Reason != "" && s.State != publisher.StateCancelled && kind != publisher.StateCancelled {
		// A cancellation's reason is the upstream's motivo_annullamento,
		// free text that may name the person, as esito.info may: left out.
		fmt.Fprintf(&b, " reason=%q", s.Reason)
	}
	if s.Outcome != nil {
		fmt.Fprintf(&b, " esito=%s", shown(s.Outcome.Code))
	}
	if len(s.Errors) > 0 {
		fmt.Fprintf(&b, " problems=%d", len(s.Errors))
	}
	return b.String()
}
