package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

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
			"request and counts, never the events' metadata or problem messages. A document shows as its size,\n" +
			"SHA-256, type and object without the file name (acme/emp-7/9f86d081884c7d65/…): the file name is the\n" +
			"upstream's and may name the person; iseed status ID and iseed document get ID show the document.\n\n" +
			"When the connection to NATS is lost (the daemon's embedded server stopped, a network fault) it says so on\n" +
			"standard error and keeps reconnecting; events resume when it is back.",
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
		return watchEvents(cmd.Context(), c.js, c.layout, *tenant, policy, e.stdout)
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

// watchEvents prints one line per event of a tenant ("" for all) until ctx
// is done.
func watchEvents(ctx context.Context, js jetstream.JetStream, l layout.Layout, tenant string, policy jetstream.DeliverPolicy, w io.Writer) error {
	st, err := js.Stream(ctx, l.EventsStream())
	if err != nil {
		return fmt.Errorf("events stream: %w", err)
	}
	if tenant == "" {
		tenant = "*"
	}
	oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: l.Events().Of(tenant, "*"), DeliverPolicy: policy})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	cc, err := oc.Consume(func(msg jetstream.Msg) { fmt.Fprintln(w, eventLine(msg.Data())) })
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

// eventLine renders one event for people: time, tenant/submission, state
// and what matters for that state. It names no personal data: of what an
// event carries, the document's file name may (the upstream's nome, often
// with the person's codice fiscale), so its object is shown without it.
func eventLine(data []byte) string {
	var ev publisher.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return fmt.Sprintf("(undecodable event, %d bytes)", len(data))
	}
	at := ev.Time.UTC().Format(time.RFC3339)
	if ev.Type == publisher.TypeDocumentReady {
		var d publisher.DocumentReady
		_ = json.Unmarshal(ev.Data, &d)
		line := fmt.Sprintf("%s %s/%s document_ready object=%s size=%d sha256=%s type=%s", at, d.Tenant, d.SubmissionID,
			shown(record.ScrubbedObject(d.Object)), d.Size, d.SHA256, shown(d.ContentType))
		if d.Encrypted {
			line += " encrypted key=" + d.KeyID
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
	fmt.Fprintf(&b, "%s %s/%s %s", at, s.Tenant, s.SubmissionID, strings.TrimPrefix(ev.Type, "iseed.submission."))
	if s.Service != "" {
		fmt.Fprintf(&b, " service=%q", s.Service)
	}
	if s.RequestID != "" {
		fmt.Fprintf(&b, " request=%s", shown(s.RequestID))
	}
	if s.StatoRichiesta != "" {
		fmt.Fprintf(&b, " stato=%q", s.StatoRichiesta)
	}
	if s.Reason != "" {
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
