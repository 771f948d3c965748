package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/jsread"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/nats-io/nats.go/jetstream"
)

// taxCodeKeyName is the tax-code key's name in the keys bucket, when
// ISEED_TAXCODE_KEY_FILE does not give it.
const taxCodeKeyName = "taxcode-hmac"

// eraser erases one tenant's submissions, step by step (iseed erase).
type eraser struct {
	c      *cliConn
	q      *dlq.Queue
	tenant string
	store  *record.Store
	now    func() time.Time
	// batch is how many messages a fetch of the submissions stream asks
	// for (eraseBatch; a test sets fewer).
	batch int
}

// eraseBatch is how many messages a fetch of erase's search of the
// submissions stream asks for, at most.
const eraseBatch = 256

func newEraser(c *cliConn, q *dlq.Queue, tenant string) *eraser {
	return &eraser{c: c, q: q, tenant: tenant, store: record.NewStore(c.res.Records), now: time.Now, batch: eraseBatch}
}

// personKey is the history key (and a record's PersonKey) of taxCode: ""
// when there is no tax-code key and the history is empty (noKey).
func (er *eraser) personKey(ctx context.Context, taxCode string) (string, error) {
	var key []byte
	if f := er.c.cfg.TaxcodeKeyFile; f != "" {
		k, err := readKeyFile(f, "ISEED_TAXCODE_KEY_FILE")
		if err != nil {
			return "", configError(err)
		}
		key = k
	} else {
		e, err := er.c.res.Keys.Get(ctx, taxCodeKeyName)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return "", er.noKey(ctx)
		}
		if err != nil {
			return "", fmt.Errorf("the tax-code key (%s in %s): %w", taxCodeKeyName, er.c.res.Layout.KeysBucket(), err)
		}
		key = e.Value()
	}
	h, err := tracking.NewHistory(er.c.res.History, nil, key, tracking.Services{})
	if err != nil {
		return "", err
	}
	return h.TaxCodeKey(er.tenant, taxCode), nil
}

// noKey is what personKey makes of a tax-code key neither in
// ISEED_TAXCODE_KEY_FILE nor in the keys bucket: nil while the history is
// empty, as the daemon makes that key before it notes a first entry,
// unless it reads its key from the file. A history
// with entries was keyed by a key this command was not given (a daemon's
// ISEED_TAXCODE_KEY_FILE, not set where the command runs): the person's
// entry cannot be found, nor their records told from another person's,
// and nothing is erased.
func (er *eraser) noKey(ctx context.Context) error {
	bucket := er.c.res.Layout.HistoryBucket()
	st, err := er.c.res.History.Status(ctx)
	if err != nil {
		return fmt.Errorf("the ISEE history (%s): %w", bucket, err)
	}
	if st.Values() > 0 {
		return configError(fmt.Errorf("--tax-code-stdin: the ISEE history (%s) has entries, but the tax-code key they are keyed by is "+
			"neither in ISEED_TAXCODE_KEY_FILE (not set) nor in the keys bucket (%s in %s): set ISEED_TAXCODE_KEY_FILE as iseed serve has it; nothing erased",
			bucket, taxCodeKeyName, er.c.res.Layout.KeysBucket()))
	}
	return nil
}

// check reads the record of id: the erasure of one that is not to be
// erased says why; one to erase has no Outcome yet.
func (er *eraser) check(ctx context.Context, id, person string) erasure {
	x := erasure{Tenant: er.tenant, Submission: id}
	rec, _, err := er.store.Get(ctx, er.tenant, id)
	switch {
	case errors.Is(err, record.ErrNotFound):
		x.Outcome, x.Why = unknownID, fmt.Sprintf("iseed has no record of submission %q of tenant %q: nothing erased (check the id and --tenant; "+
			"a message dead-lettered before it had a record is purged with iseed dlq purge)", id, er.tenant)
	case err != nil:
		x.Outcome, x.Why = eraseFailed, fmt.Sprintf("nothing erased: %v", err)
	case !rec.Closed():
		x.Outcome, x.Why = refusedOpen, openWhy(rec)
	case person != "" && rec.PersonKey != "" && rec.PersonKey != person:
		x.Outcome, x.Why = refusedOpen, "its record names another person than the tax code given: nothing erased (give the tax code it was sent for)"
		x.otherPerson = true
	}
	if x.Outcome != "" {
		return x
	}
	switch held, err := er.tracked(ctx, id); {
	case err != nil:
		x.Outcome, x.Why = eraseFailed, fmt.Sprintf("nothing erased: tracking's tasks (%s): %v", er.c.res.Layout.TrackStream(), err)
	case held:
		x.Outcome, x.Why = refusedOpen, "its record is closed, but tracking still holds its task: it has yet to store what closing it makes "+
			"(a gave_up dead letter, the final events), which would outlast an erasure now; nothing of it is erased. "+
			"Run the command again once tracking is done with it (usually at once; longer while the dead-letter stream refuses letters)"
	}
	return x
}

// tracked reports whether the track stream still holds a task of the
// submission. Tracking closes a record first, then stores the gave_up
// dead letter and publishes the final events, then acks the task (the
// stream is a work queue: the ack removes it); a task that comes back
// after a crash, or while the dead-letter stream refuses the letter, does
// the rest later. Erased meanwhile, the submission would get a dead
// letter after its scrub (a replay of it reopens the scrubbed record) and
// events after their purge.
func (er *eraser) tracked(ctx context.Context, id string) (bool, error) {
	_, err := er.c.res.Track.GetLastMsgForSubject(ctx, er.c.res.Layout.TrackSubject(er.tenant, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return err == nil, err
}

// openWhy says why an open record is not erased, and what to do.
func openWhy(rec *record.Record) string {
	var what string
	switch rec.State {
	case record.StateClaimed:
		what = "it is being sent (claimed)"
	case record.StateHeld:
		what = "a spending cap holds it (held): it is sent once the cap allows"
	case record.StateCompleted:
		what = "it is completed and its final document is awaited"
	default:
		what = fmt.Sprintf("its upstream request is under way (%s)", rec.State)
	}
	return "its record is open: " + what + "; iseed still works on it, and nothing of it is erased. " +
		"Wait until it is closed (completed with its final document, rejected, failed or cancelled), or let it fail, then erase it"
}

// erase erases one closed submission: its dead letters first (one
// replayed after the scrub would reopen a scrubbed record), its messages,
// its documents, then its record; then its dead letters, events and
// documents again. It stops at the first step that fails, saying so in x.
//
// The second purge closes the window the pipeline leaves: it writes a
// record rejected or failed before it stores the dead letter and publishes
// the event, and one stored after the first purge would outlive the
// erasure. A letter or event stored before the second purge reads the
// stream is removed by it; one stored after it comes after the scrub,
// which the pipeline reads back from the records bucket's leader once it
// has stored them, and removes them itself (consumer/erased.go). So do
// the documents and events of a give-up's override (a late completion,
// with no tracking task, which erase does not wait for): tracking's
// write of the record fails on the scrub, and it removes what it stored
// after the sweep (tracking/erased.go).
func (er *eraser) erase(ctx context.Context, x *erasure, seqs []uint64) {
	var err error
	var n int
	steps := []func(){
		func() { x.DeadLetters, err = er.purgeLetters(ctx, x.Submission) },
		func() { x.EventMessages, err = er.purgeEvents(ctx, x.Submission) },
		func() { x.SubmissionMessages, err = er.deleteMessages(ctx, seqs) },
		func() { x.Documents, err = er.deleteDocuments(ctx, x.Submission) },
		func() { x.RecordScrubbed, err = er.scrub(ctx, x.Submission) },
		func() { n, err = er.purgeLetters(ctx, x.Submission); x.DeadLetters += n },
		func() { n, err = er.purgeEvents(ctx, x.Submission); x.EventMessages += n },
		func() { n, err = er.deleteDocuments(ctx, x.Submission); x.Documents += n },
	}
	for _, step := range steps {
		if step(); err != nil {
			x.Outcome, x.Why = eraseFailed, err.Error()+" (what follows it is not done: run iseed erase again)"
			return
		}
	}
	x.Outcome = nothingLeft
	if x.DeadLetters+x.EventMessages+x.SubmissionMessages+x.Documents > 0 || x.RecordScrubbed {
		x.Outcome = erased
	}
}

// purgeLetters purges the submission's dead letters as iseed dlq purge
// does (their bytes overwritten) and counts them.
func (er *eraser) purgeLetters(ctx context.Context, id string) (int, error) {
	dls, err := er.q.List(ctx, dlq.Filter{Tenant: er.tenant, Submission: id})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range dls {
		err := er.q.Purge(ctx, d.Seq)
		switch {
		case err == nil:
			n++
		case errors.Is(err, dlq.ErrNotFound): // gone meanwhile
		case errors.Is(err, dlq.ErrReplayedAlready):
			return n, fmt.Errorf("dead letter %d was replayed meanwhile, and its submission reopens: the record is not scrubbed; erase it once it is closed again", d.Seq)
		default:
			return n, fmt.Errorf("the record is not scrubbed while dead letter %d stays: %w", d.Seq, err)
		}
	}
	return n, nil
}

// purgeEvents purges the submission's subjects in the events stream and
// counts the events removed.
func (er *eraser) purgeEvents(ctx context.Context, id string) (int, error) {
	name := er.c.res.Layout.EventsStream()
	st, err := er.c.js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return er.c.res.Layout.Events().PurgeOf(ctx, st, er.tenant, id)
}

// submissionMessages finds, in the tenant's subject of the submissions
// stream, the sequences of the messages of each of ids: it reads them in
// order, decoding only their id, to the subject's end when it began
// (jsread.Read: a fetch answered "no responders" or that brings nothing
// is tried again, twice in a row at most; a search that stops short is an
// error, never taken for the whole one, which would leave messages). A
// message is a submission's when its id is, or when the pipeline read that
// id from it (consumer.PeekID): a copy it refused as malformed (a leading
// byte order mark, data after the object) carries the person as the
// submission does, and its dead letter names the submission.
func (er *eraser) submissionMessages(ctx context.Context, ids []string) (map[string][]uint64, error) {
	st, subject := er.c.res.Submissions, er.c.res.Layout.SubmissionSubject(er.tenant)
	if len(ids) == 0 {
		return nil, nil
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil || info.State.Subjects[subject] == 0 {
		return nil, err
	}
	out := map[string][]uint64{}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}
	o := jsread.Options{Wait: 5 * time.Second}.Large(er.c.nc, er.batch) // submissions of up to max_payload
	err = jsread.Read(ctx, st, cfg, o, func(m jetstream.Msg, meta *jetstream.MsgMetadata) error {
		var s struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(m.Data(), &s) != nil || !slices.Contains(ids, s.ID) {
			s.ID = consumer.PeekID(m.Data())
		}
		if slices.Contains(ids, s.ID) {
			out[s.ID] = append(out[s.ID], meta.Sequence.Stream)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", subject, err)
	}
	return out, nil
}

// deleteMessages removes messages of the submissions stream, their bytes
// overwritten on disk, and counts them; one gone meanwhile (aged out) is
// not counted.
func (er *eraser) deleteMessages(ctx context.Context, seqs []uint64) (int, error) {
	st, n := er.c.res.Submissions, 0
	for _, seq := range seqs {
		err := st.SecureDeleteMsg(ctx, seq)
		if err != nil {
			// The server answers a delete of a missing message with a
			// generic failure: ask whether it is there.
			if _, gerr := st.GetMsg(ctx, seq); errors.Is(gerr, jetstream.ErrMsgNotFound) {
				continue
			}
			return n, fmt.Errorf("%s: delete message %d: %w", er.c.res.Layout.SubmissionsStream(), seq, err)
		}
		n++
	}
	return n, nil
}

// deleteDocuments deletes the submission's objects (named
// <tenant>/<id>/…) from the tenant's documents bucket and from the one
// shared before there were per-tenant buckets, and counts them. The
// object store leaves a deleted object's name and metadata, the
// upstream's file name, in a marker: that is purged too, as are markers
// of objects deleted before.
func (er *eraser) deleteDocuments(ctx context.Context, id string) (int, error) {
	l, n := er.c.res.Layout, 0
	for _, bucket := range []string{l.TenantDocumentsBucket(er.tenant), l.DocumentsBucket()} {
		m, err := er.deleteObjects(ctx, bucket, er.tenant+"/"+id+"/")
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// deleteObjects deletes the objects of bucket whose names start with
// prefix, and their markers. An error never quotes an object's name.
func (er *eraser) deleteObjects(ctx context.Context, bucket, prefix string) (int, error) {
	obs, err := er.c.js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, nil // the tenant never had a document
	}
	if err != nil {
		return 0, fmt.Errorf("documents bucket %s: %w", bucket, err)
	}
	infos, err := obs.List(ctx, jetstream.ListObjectsShowDeleted())
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("documents bucket %s: %w", bucket, err)
	}
	st, err := er.c.js.Stream(ctx, "OBJ_"+bucket)
	if err != nil {
		return 0, fmt.Errorf("documents bucket %s: %w", bucket, err)
	}
	n := 0
	for _, info := range infos {
		if !strings.HasPrefix(info.Name, prefix) {
			continue
		}
		// A marker's object is deleted again: a delete writes its marker
		// first, then purges the chunks, and one whose purge failed (an
		// earlier run of this command, the tracker's unstore) left the
		// chunks, the document's bytes, under the marker's NUID. Deleted
		// again, they are purged.
		if err := obs.Delete(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return n, fmt.Errorf("documents bucket %s: delete a document of %s: %w", bucket, strings.TrimSuffix(prefix, "/"), err)
		}
		if !info.Deleted {
			n++
		}
		meta := layout.ObjectMetaSubject(bucket, info.Name)
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(meta)); err != nil {
			return n, fmt.Errorf("documents bucket %s: purge a deleted document's marker of %s: %w", bucket, strings.TrimSuffix(prefix, "/"), err)
		}
	}
	return n, nil
}

// scrub scrubs the record now (record.Record.Scrub), with a
// compare-and-set on the revision read, read again when it lost; it
// reports whether there was anything to scrub. It writes the record
// whatever there was: with Scrubbed set to now, never to the time it had,
// which is what the pipeline reads back to tell that the submission was
// erased after it stored a dead letter or an event of it
// (consumer/erased.go).
func (er *eraser) scrub(ctx context.Context, id string) (bool, error) {
	const attempts = 10
	for range attempts {
		rec, rev, err := er.store.Get(ctx, er.tenant, id)
		if err != nil {
			return false, err
		}
		if !rec.Closed() {
			return false, fmt.Errorf("the record was reopened meanwhile (%s) and is not scrubbed: erase it once it is closed again", rec.State)
		}
		now := er.now()
		if now.Equal(rec.Scrubbed) {
			now = now.Add(time.Nanosecond)
		}
		scrubbed := rec.Scrub(now)
		rec.Scrubbed = now // also when there was nothing left to remove
		_, err = er.store.Update(ctx, rec, rev)
		if !errors.Is(err, record.ErrRevision) {
			return scrubbed && err == nil, err
		}
	}
	return false, fmt.Errorf("the record changed %d times while it was scrubbed, and is not", attempts)
}

// history deletes the person's ISEE history entry, when the tax code was
// given and every record that names a person names theirs.
func (er *eraser) history(ctx context.Context, taxCode, person string, done []erasure) (outcome, why string) {
	if taxCode == "" {
		return historyNotTouched, "no --tax-code-stdin; to delete the person's entry, run this command again with their tax code " +
			"on standard input (printf '%s\\n' \"$CF\" | iseed erase --yes --tax-code-stdin …), or by hand (docs/security.md)"
	}
	for _, x := range done {
		if x.otherPerson {
			return historyNotTouched, "a submission's record names another person than the tax code given"
		}
	}
	if person == "" {
		return historyNoEntry, "" // no tax-code key: nothing was ever noted
	}
	_, err := er.c.res.History.Get(ctx, person)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return historyNoEntry, ""
	}
	if err == nil {
		err = er.c.res.History.Delete(ctx, person)
	}
	if err != nil {
		return historyNotTouched, fmt.Sprintf("%s: %v; run the command again", er.c.res.Layout.HistoryBucket(), err)
	}
	return historyDeleted, ""
}
