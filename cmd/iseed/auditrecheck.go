package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/iseed-dev/iseed/audit"
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
// with the findings, not with the books.
func recheck(ctx context.Context, js jetstream.JetStream, res *layout.Resources, l *ledger.Ledger, in *audit.Input) error {
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
	return nil
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
