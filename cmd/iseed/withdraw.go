package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
)

func newWithdrawCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "withdraw --tenant T ID...",
		Short: "Publish a producer's withdrawal of its submissions not sent yet",
		Long: "Publishes, for each ID, a withdrawal on <prefix>.submissions.<tenant>: {\"version\":1,\"id\":ID,\"withdraw\":true}\n" +
			"(docs/events.md, \"Withdrawal (in)\"). A submission of the tenant not sent yet (held by a spending cap, a pause or a fair share, or a\n" +
			"worker waits for its upstream token) is then failed withdrawn, never sent nor paid: its failed event, its dead\n" +
			"letter, a reservation given back. One rejected or failed with nothing sent is marked withdrawn and stays as it is:\n" +
			"its rejected or failed event comes again with reason withdrawn, and an operator's replay of its dead letter is\n" +
			"refused unless the tenant asks (iseed dlq replay --tenant-asked). Any other is left\n" +
			"as it is, and the tenant gets an iseed.submission.withdrawal_refused event saying why: too_late (sent, or being\n" +
			"sent), unknown (not received within ISEED_WITHDRAW_WAIT of the withdrawal). It is what\n" +
			"iseed cancel does for an operator, but with a tenant's credentials: the shipped grants let a tenant publish\n" +
			"on its own submissions subject, and nothing more is needed.\n\n" +
			"With --wait it follows each submission until it is withdrawn or its withdrawal refused, or --timeout passes;\n" +
			"that reads the records and events, which needs an operator's credentials.",
		Annotations: map[string]string{exitCodesKey: "0 published (with --wait: every one withdrawn); 1 one refused, or an error (those before it are published); " +
			"2 usage or configuration error; 3 --wait timed out"},
	}
	tenant := cmd.Flags().String("tenant", "", "the submissions' `TENANT` (required)")
	wait := cmd.Flags().Bool("wait", false, "wait until each is withdrawn or its withdrawal refused")
	timeout := cmd.Flags().Duration("timeout", 0, "with --wait, how long to wait for all of them (default: ISEED_WITHDRAW_WAIT and a minute, 2m0s with its default)")
	cmd.Args = func(_ *cobra.Command, args []string) error {
		if err := tenantIDs(*tenant, args); err != nil {
			return err
		}
		if len(args) == 0 {
			return usagef("missing ID: the submissions to withdraw")
		}
		if cmd.Flags().Changed("timeout") && *timeout <= 0 {
			return usagef("--timeout must be positive, got %s", *timeout)
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		c, err := openCLI(ctx, e.stderr, *wait)
		if err != nil {
			return err
		}
		defer c.close()
		type sent struct {
			id  string
			seq uint64
		}
		var all []sent
		for _, id := range distinct(args) {
			m := nats.NewMsg(c.layout.SubmissionSubject(*tenant))
			m.Data, _ = json.Marshal(map[string]any{"version": 1, "id": id, "withdraw": true})
			ack, err := c.js.PublishMsg(ctx, m)
			if err != nil {
				return publishError(err, c.nc.LastError(), *tenant, id)
			}
			all = append(all, sent{id, ack.Sequence})
			if !*wait {
				fmt.Fprintf(e.stdout, "%s/%s: withdrawal published\n", *tenant, id)
			}
		}
		if !*wait {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, withdrawTimeout(*timeout, c.cfg))
		defer cancel()
		refused := false
		for _, s := range all {
			ok, err := followWithdrawal(wctx, ctx, e, c, *tenant, s.id, s.seq)
			if err != nil {
				return err
			}
			refused = refused || !ok
		}
		if refused {
			return silent(exitFailed)
		}
		return nil
	}
	return cmd
}

// withdrawTimeout is how long withdraw --wait follows its withdrawals:
// --timeout when given, else ISEED_WITHDRAW_WAIT and a minute. A
// withdrawal of a submission iseed has no record of is refused unknown
// only ISEED_WITHDRAW_WAIT after it was published (looked at again every
// few seconds until then): a fixed minute, the variable's own default,
// ended every such wait timed out (exit 3) moments before its refusal.
func withdrawTimeout(given time.Duration, cfg *Config) time.Duration {
	if given > 0 {
		return given
	}
	return cfg.WithdrawWait + time.Minute
}

// followWithdrawal waits until tenant's submission id is failed as a
// cancelled hold is (withdrawn; or cancelled_by_operator, an operator
// first), or marked withdrawn after it was rejected or failed
// (record.Record.WithdrawnClosed), or the withdrawal stored at seq is refused (its
// withdrawal_refused notice), and says which; withdrawn is false when it
// was refused.
func followWithdrawal(wctx, ctx context.Context, e *env, c *cliConn, tenant, id string, seq uint64) (withdrawn bool, err error) {
	raw, err := c.res.Submissions.GetMsg(wctx, seq)
	if err != nil {
		return false, fmt.Errorf("read the withdrawal of %s/%s back (message %d): %w", tenant, id, seq, err)
	}
	noticeID := publisher.WithdrawalRefusedEventID(tenant, id, raw.Time)
	store := record.NewStore(c.res.Records)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		rec, _, err := store.Get(wctx, tenant, id)
		switch {
		case err == nil && rec.State == record.StateFailed && (rec.Reason == dlq.ReasonWithdrawn || rec.Reason == dlq.ReasonCancelledByOperator):
			fmt.Fprintf(e.stdout, "%s/%s: withdrawn (%s, %s): never sent\n", tenant, id, rec.Reason, rec.CancelledByWhom())
			return true, nil
		case err == nil && rec.WithdrawnClosed():
			fmt.Fprintf(e.stdout, "%s/%s: withdrawn after it was %s (%s): never sent, nor replayed unless the tenant asks\n", tenant, id, rec.State, rec.Reason)
			return true, nil
		case err != nil && !errors.Is(err, record.ErrNotFound) && wctx.Err() == nil:
			return false, err
		}
		if n, err := withdrawalNotice(wctx, c, tenant, id, noticeID); err != nil && wctx.Err() == nil {
			return false, err
		} else if n != nil {
			why := ""
			if len(n.Errors) > 0 {
				why = n.Errors[0].Message
			}
			fmt.Fprintf(e.stderr, "%s/%s: withdrawal refused (%s): %s\n", tenant, id, n.Reason, why)
			return false, nil
		}
		select {
		case <-tick.C:
		case <-wctx.Done():
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			fmt.Fprintf(e.stderr, "timed out: %s/%s is neither withdrawn nor refused yet; follow it with 'iseed status --tenant %s %s'\n", tenant, id, tenant, id)
			return false, silent(exitTimeout)
		}
	}
}

// withdrawalNotice returns the withdrawal_refused event about tenant's
// submission id whose id is eventID, nil if there is none.
func withdrawalNotice(ctx context.Context, c *cliConn, tenant, id, eventID string) (*publisher.Status, error) {
	raws, err := publisher.ReadEvents(ctx, c.js, c.layout.EventsStream(), c.layout.Events(), tenant, id)
	if err != nil {
		return nil, err
	}
	for _, raw := range raws {
		var ev struct {
			ID   string           `json:"id"`
			Type string           `json:"type"`
			Data publisher.Status `json:"data"`
		}
		if json.Unmarshal(raw, &ev) == nil && ev.ID == eventID && ev.Type == publisher.StatusType(publisher.StateWithdrawalRefused) {
			return &ev.Data, nil
		}
	}
	return nil, nil
}
