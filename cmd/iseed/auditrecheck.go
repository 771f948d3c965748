package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/audit"
	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// recheck rereads, once the upstream is listed, what may account for each
// request in's check finds unowned or unledgered: its request index entry
// and the record that entry names, from the buckets' leaders, and its
// ledger entry; in gets what they hold now. iseed's books are read before
// the listing (audit.Input), so a request created meanwhile (a submission
// sent, a lost answer reconciled, while the audit reads) is listed with
// none of them read: only a request still unaccounted for after the
// listing is a finding. Only those requests are reread: the cost grows
// with the findings, not with the books. A request still unowned may be
// the lost answer of a submission claimed while the audit read: its
// candidates are sought among the records written since the records
// stream's sequence since, when the first read began, in the stream
// created at created (claimedSince).
func recheck(ctx context.Context, js jetstream.JetStream, res *layout.Resources, l *ledger.Ledger, since uint64, created time.Time, in *audit.Input) error {
	first := audit.Check(*in)
	var ids []string
	for _, u := range first.Unowned {
		ids = append(ids, u.RequestID)
	}
	for _, u := range first.Unledgered {
		ids = append(ids, u.RequestID)
	}
	for _, id := range ids {
		if err := reread(ctx, js, res, l, in, id); err != nil {
			return err
		}
	}
	if slices.ContainsFunc(first.Unowned, func(u audit.Unowned) bool { _, owned := in.Index[u.RequestID]; return !owned }) {
		return claimedSince(ctx, res.Records, since, created, in, bucket.Recheck)
	}
	return nil
}

// claimedSince puts in in.Records the records without a request written
// after the records stream's sequence since: those are all a candidate
// needs (a pending attempt, or a failure as ambiguous), and a submission
// claimed, or failed, while the audit read has one. A record that named a
// request when first read keeps that version: the request it names now
// may be younger than the listing, and would read as missing. The cost
// grows with the records written during the audit.
//
// The watch ends with its marker, which a records bucket deleted, or
// deleted and made anew, while it reads may never deliver (its consumer
// goes on after the old bucket's last revision), and iseed audit's
// context has no deadline: every check (bucket.Recheck; a test's
// shorter), and at the marker, the stream is checked to be the one
// created at created, when since was read, and the audit ends with an
// error when it is not. A watch only slow keeps reading.
func claimedSince(ctx context.Context, kv jetstream.KeyValue, since uint64, created time.Time, in *audit.Input, every time.Duration) error {
	w, err := kv.WatchAll(ctx, jetstream.ResumeFromRevision(since+1), jetstream.IncludeHistory())
	if err != nil {
		return fmt.Errorf("records written during the audit: %w", err)
	}
	defer w.Stop()
	check := time.NewTicker(every)
	defer check.Stop()
	at := make(map[string]int, len(in.Records))
	for i, r := range in.Records {
		at[record.Key(r.Tenant, r.ID)] = i
	}
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-check.C:
			if err := recordsChanged(ctx, kv, created); err != nil {
				return err
			}
			continue
		case u, ok := <-w.Updates():
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := recordsChanged(ctx, kv, created); err != nil {
					return err
				}
				return errors.New("records written during the audit: the watch ended before it read them all")
			}
			e = u
		}
		if e == nil {
			// All read, unless the bucket is not the one since numbers:
			// one made anew before the watch began has nothing after it.
			return recordsChanged(ctx, kv, created)
		}
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		rec, err := record.Decode(e.Value())
		if err != nil {
			return fmt.Errorf("decode record %s: %w", e.Key(), err)
		}
		i, ok := at[e.Key()]
		switch {
		case rec.RequestID != "":
		case !ok:
			at[e.Key()] = len(in.Records)
			in.Records = append(in.Records, rec)
		case in.Records[i].RequestID == "":
			in.Records[i] = rec
		}
	}
}

// recordsChanged says, as an error, that the records bucket kv is gone or
// no longer the one created at created: the records the audit read are
// not all there, or not those it began on.
func recordsChanged(ctx context.Context, kv jetstream.KeyValue, created time.Time) error {
	if err := bucket.Changed(ctx, kv, created); err != nil {
		return fmt.Errorf("records written during the audit: %w", changedDuring("the records bucket", err))
	}
	return nil
}

// changedDuring says what err, of bucket.Changed or bucket.Keys, means to
// the audit: the bucket named what was deleted, or made anew, while the
// audit read. Other errors are returned as they are.
func changedDuring(what string, err error) error {
	switch {
	case errors.Is(err, bucket.ErrDeleted):
		return fmt.Errorf("%s was deleted during the audit", what)
	case errors.Is(err, bucket.ErrMadeAnew):
		return fmt.Errorf("%s was made anew during the audit; run the audit again", what)
	}
	return err
}

// reread updates in with the request index entry of request id, the
// record it names and the ledger entry of id. The pipeline indexes a
// request before its record names it: without an entry, nothing does.
func reread(ctx context.Context, js jetstream.JetStream, res *layout.Resources, l *ledger.Ledger, in *audit.Input, id string) error {
	owner, found, err := record.LeaderGet(ctx, js, res.Layout.RequestsBucket(), record.IndexKey(id))
	if err != nil {
		return fmt.Errorf("request index: %w", err)
	}
	if !found {
		return nil // nobody's: still unowned
	}
	key := string(owner)
	in.Index[id] = key
	tenant, sub, _ := strings.Cut(key, ".")
	if !record.ValidToken(tenant) || !record.ValidToken(sub) {
		return nil // disowned: not iseed's to record or enter
	}
	if err := rereadRecord(ctx, js, res, in, key, id); err != nil {
		return err
	}
	e, ok, err := l.Entry(ctx, tenant, id)
	if err != nil {
		return err
	}
	if ok && !slices.ContainsFunc(in.Ledger, func(x ledger.Entry) bool { return x.RequestID == id }) {
		in.Ledger = append(in.Ledger, e)
	}
	return nil
}

// rereadRecord puts in in.Records the record of key as its bucket's leader
// has it, unless it names a request other than id.
func rereadRecord(ctx context.Context, js jetstream.JetStream, res *layout.Resources, in *audit.Input, key, id string) error {
	v, ok, err := record.LeaderGet(ctx, js, res.Layout.RecordsBucket(), key)
	if err != nil || !ok {
		return err
	}
	rec, err := record.Decode(v)
	if err != nil {
		return fmt.Errorf("decode record %s: %w", key, err)
	}
	if rec.RequestID != "" && rec.RequestID != id {
		return nil
	}
	i := slices.IndexFunc(in.Records, func(r *record.Record) bool { return record.Key(r.Tenant, r.ID) == key })
	if i < 0 {
		in.Records = append(in.Records, rec)
	} else {
		in.Records[i] = rec
	}
	return nil
}

// dropYoungCharges takes out of r's unmatched charges those of requests
// iseed made after the upstream was listed: a charge naming a request that
// neither the listing nor the ledger read knows (in), that the request
// index gives to a submission, and whose ledger entry, read now, is at
// most the slack older than the charge (its first charge, as the audit's
// accounted has it). The next audit counts the charge with its request.
// Any other charge stays: a request made outside iseed has no index entry,
// and a second charge of an older request is more than the slack late.
func dropYoungCharges(ctx context.Context, js jetstream.JetStream, res *layout.Resources, l *ledger.Ledger, in *audit.Input, r *audit.Result) error {
	known := map[string]bool{}
	for _, u := range in.Upstream {
		known[u.ID] = true
	}
	for _, e := range in.Ledger {
		known[e.RequestID] = true
	}
	slack := cmp.Or(in.Slack, audit.DefaultSlack)
	kept := []audit.Charge{}
	for _, c := range r.UnmatchedCharges {
		if c.RequestID != "" && !known[c.RequestID] {
			young, err := madeSince(ctx, js, res, l, c.RequestID, c.CreatedAt.Add(-slack))
			if err != nil {
				return err
			}
			if young {
				continue
			}
		}
		kept = append(kept, c)
	}
	r.UnmatchedCharges = kept
	return nil
}

// madeSince reports whether request id is a submission's, by the request
// index's leader, with a ledger entry made at since or later.
func madeSince(ctx context.Context, js jetstream.JetStream, res *layout.Resources, l *ledger.Ledger, id string, since time.Time) (bool, error) {
	owner, found, err := record.LeaderGet(ctx, js, res.Layout.RequestsBucket(), record.IndexKey(id))
	if err != nil || !found {
		return false, err
	}
	tenant, _, _ := strings.Cut(string(owner), ".")
	if !record.ValidToken(tenant) {
		return false, nil // disowned
	}
	e, ok, err := l.Entry(ctx, tenant, id)
	return ok && !e.At.Before(since), err
}
