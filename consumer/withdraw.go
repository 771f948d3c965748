package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// A withdrawal is a producer's request, published on its own submissions
// subject, that a submission it published earlier, not sent yet (held by
// a spending cap, or claimed and waiting for its upstream token), be never
// sent:
//
//	{"version": 1, "id": "emp-7781-isee-2026", "withdraw": true}
//
// It is what an operator's CancelUnsent is, for the tenant the subject
// names and no other: the record is marked (record.Record.CancelledBy
// "tenant"), a held one's message sent again, and the next delivery fails
// it withdrawn (its failed event, its dead letter, its reservation given
// back). One rejected or failed with nothing sent is marked too
// (cancelUnsent's CancelClosed): it stays as it is, and a replay of its
// dead letters is refused unless the tenant asks (dlq.CheckReopen), as a
// withdrawn one's is; the producer gets its rejected or failed event again
// with reason withdrawn (withdrawnClosed). Any other is not touched: sent
// or being sent (too late: its request exists, or may), or not known. The
// producer then gets a withdrawal_refused notice saying which
// (publisher.StateWithdrawalRefused), and one for a withdrawal that is
// malformed but names an id.

// Refusal codes of a withdrawal (the notice's reason).
const (
	WithdrawTooLate   = "too_late"  // sent, or being sent: its request exists or may
	WithdrawUnknown   = "unknown"   // no submission of that id (not received, or not yet claimed)
	WithdrawMalformed = "malformed" // the withdrawal itself is not one
)

// withdrawMsgIDPart is what a withdrawal's Nats-Msg-Id has after
// "<tenant>" (or, in the earlier form, "<tenant>.<id>"), before a suffix
// of the producer's.
const withdrawMsgIDPart = ".withdraw."

// withdrawRecheck bounds the wait between two looks of a withdrawal for
// its submission (Busy: the retry policy's delays, from its least).
const withdrawRecheck = 5 * time.Second

// waitingLimits bound the withdrawals whose submission has no record
// that this replica lets wait for it (looking again every few seconds, up
// to WithdrawWait), of all tenants (total) and of one (perTenant), from the
// submissions consumer's MaxAckPending: a message that waits so is nakked
// with a delay, and the server counts it pending until it is acknowledged,
// delivering nothing more once MaxAckPending are. Unbounded, a tenant that
// published withdrawals of ids it never sent (64 by default) stopped the
// pipeline for every tenant for a minute, and again with its next ones.
// Bounded so, the replicas' waiting withdrawals take at most a quarter of
// it with four replicas. Legitimately few wait, and for a moment: a
// withdrawal comes after its submission, which a worker has usually
// claimed already (it may miss the claim by milliseconds, or find the
// submission in a retry). Past a limit one is refused unknown at once,
// saying to withdraw it again later.
func waitingLimits(maxAckPending int) (total, perTenant int) {
	total = max(2, maxAckPending/16)
	return total, max(1, total/2)
}

// withdrawWaits are the withdrawals, per tenant, that this replica lets
// wait for their submission's record (by the withdrawal's stream
// sequence, with when it first waited): a redelivery of one counts once.
// One whose next delivery goes to another replica is forgotten here
// WithdrawWait after it first waited.
type withdrawWaits struct {
	mu       sync.Mutex
	byTenant map[string]map[uint64]time.Time
	n        int // of all tenants
}

// admit reports whether the withdrawal seq of tenant may wait, noting it
// when it may: it waits already, or fewer than perTenant of the tenant's
// and fewer than total of all do (those first seen more than wait before
// now forgotten).
func (w *withdrawWaits) admit(tenant string, seq uint64, now time.Time, wait time.Duration, total, perTenant int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.byTenant[tenant][seq]; ok {
		return true
	}
	for t, waiting := range w.byTenant {
		for s, at := range waiting {
			if now.Sub(at) > wait {
				w.forget(t, s)
			}
		}
	}
	waiting := w.byTenant[tenant]
	if len(waiting) >= perTenant || w.n >= total {
		return false
	}
	if waiting == nil {
		if w.byTenant == nil {
			w.byTenant = map[string]map[uint64]time.Time{}
		}
		waiting = map[uint64]time.Time{}
		w.byTenant[tenant] = waiting
	}
	waiting[seq] = now
	w.n++
	return true
}

// done forgets the withdrawal seq of tenant: it waits no more.
func (w *withdrawWaits) done(tenant string, seq uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forget(tenant, seq)
}

// forget is done; the caller holds mu.
func (w *withdrawWaits) forget(tenant string, seq uint64) {
	waiting := w.byTenant[tenant]
	if _, ok := waiting[seq]; !ok {
		return
	}
	delete(waiting, seq)
	w.n--
	if len(waiting) == 0 {
		delete(w.byTenant, tenant)
	}
}

// maxWithdrawalBytes bounds a withdrawal: its three members need far less.
const maxWithdrawalBytes = 1 << 10

// topMembers reads the members of data, a JSON object, as PeekID walks
// them: those read before the point where it breaks, if it does, a name
// whose value does not decode included (with a nil value). whole is false
// when data is not one object and nothing else; repeated is true when a
// name is given twice (the last value is kept).
func topMembers(data []byte) (members map[string]json.RawMessage, repeated, whole bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false, false
	}
	members = map[string]json.RawMessage{}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return members, repeated, false
		}
		name, _ := key.(string)
		_, again := members[name]
		repeated = repeated || again
		var value json.RawMessage
		err = dec.Decode(&value)
		members[name] = value
		if err != nil {
			return members, repeated, false
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return members, repeated, false
	}
	if _, err := dec.Token(); err != io.EOF { // trailing data
		return members, repeated, false
	}
	return members, repeated, true
}

// withdrawalKeys are the members a withdrawal may have.
var withdrawalKeys = []string{"id", "version", "withdraw"}

// decodeWithdrawal reads data, a message that is not a valid submission,
// as a withdrawal. ok is false when it is not one (no top-level member
// "withdraw", spelt so, read before the point where the message breaks,
// if it does, after a byte order mark, if it has one: a name escaped
// within, "withdr\u0061w", is not looked for): a malformed submission.
// When it is one, bad says what is wrong with it, if anything, and id is
// the id it names ("" if none can be read). A withdrawal with a byte order
// mark, bytes that are not UTF-8, or JSON that breaks after its "withdraw"
// is one all the same, and malformed: taken for a malformed submission,
// it told its producer that the submission was rejected, or, of one iseed
// has, nothing at all.
func decodeWithdrawal(data []byte) (id string, bad error, ok bool) {
	if !bytes.Contains(data, []byte(`"withdraw"`)) {
		return "", nil, false
	}
	members, repeated, whole := topMembers(bytes.TrimPrefix(data, []byte(byteOrderMark)))
	w, ok := members["withdraw"]
	if !ok {
		return "", nil, false
	}
	id = PeekID(data)
	if len(data) > maxWithdrawalBytes {
		return id, fmt.Errorf("a withdrawal is at most %d bytes; this one has %d", maxWithdrawalBytes, len(data)), true
	}
	if err := checkEnvelope(data); err != nil {
		return id, err, true
	}
	if !whole {
		return id, errors.New("a withdrawal is one JSON object and nothing else: this one breaks off, or has data after it"), true
	}
	if repeated {
		return id, errors.New("a member is given twice"), true
	}
	extra := 0 // not named: a name may be personal data (a submission's fields)
	for k := range members {
		if !slices.Contains(withdrawalKeys, k) {
			extra++
		}
	}
	var version *int
	switch {
	case extra > 0:
		return id, fmt.Errorf("a withdrawal has only the members id, withdraw and version; it has %d more", extra), true
	case !bytes.Equal(bytes.TrimSpace(w), []byte("true")):
		return id, errors.New("withdraw must be true"), true
	case members["version"] != nil && (json.Unmarshal(members["version"], &version) != nil || version == nil || *version != 1):
		return id, errors.New("version must be 1 when present"), true
	case id == "":
		return "", fmt.Errorf("id must be 1-%d characters of A-Z, a-z, 0-9, _ and -", record.MaxIDLen), true
	}
	return id, nil, true
}

// checkWithdrawalMsgID refuses a withdrawal's Nats-Msg-Id unless it is
// absent or "<tenant>.withdraw.<suffix>": the submissions stream
// deduplicates message ids across every tenant's subjects, so another
// tenant that could guess the id would publish it first and have this
// withdrawal dropped. The producer's suffix is what it cannot guess. The
// id has no submission id in it, since other tenants can read message ids
// back from the stream (publisher.SubmissionMsgID); the earlier form,
// "<tenant>.<id>.withdraw.<suffix>", is still accepted.
func checkWithdrawalMsgID(msgID, tenant, id string) error {
	if msgID == "" {
		return nil
	}
	want := tenant + withdrawMsgIDPart
	for _, prefix := range []string{want, tenant + "." + id + withdrawMsgIDPart} {
		if rest, ok := strings.CutPrefix(msgID, prefix); ok && rest != "" {
			return nil
		}
	}
	return fmt.Errorf("a withdrawal's Nats-Msg-Id must be absent, or %q followed by a suffix nobody else can guess (a random UUID); got another id (%d bytes)", want+"…", len(msgID))
}

// withdraw carries out the withdrawal of submission id the job's message
// asks for (bad: what is wrong with it).
func (p *Pipeline) withdraw(ctx context.Context, j *job, id string, bad error) Outcome {
	j.withdrawal = true
	if bad == nil {
		bad = checkWithdrawalMsgID(j.msg.Headers().Get(jetstream.MsgIDHeader), j.tenant, id)
	}
	if bad != nil {
		return p.withdrawalRefused(ctx, j, id, WithdrawMalformed, "this withdrawal is malformed: "+bad.Error())
	}
	res, err := cancelUnsent(ctx, p.d.Publisher, p.d.Resources, j.tenant, id, p.cfg.Now(), record.CancelledByTenant)
	if err != nil {
		return p.retry(fmt.Errorf("withdrawal: %w", err), 0)
	}
	seq := j.meta.Sequence.Stream
	if res.Outcome != CancelUnknown {
		p.waits.done(j.tenant, seq)
	}
	switch res.Outcome {
	case CancelDone:
		return Outcome{Kind: Done}
	case CancelClosed:
		return p.withdrawnClosed(ctx, j, id)
	case CancelUnknown:
		now := p.cfg.Now()
		if now.Sub(j.meta.Timestamp) >= p.cfg.WithdrawWait {
			p.waits.done(j.tenant, seq)
			return p.withdrawalRefused(ctx, j, id, WithdrawUnknown,
				fmt.Sprintf("no submission %s of this tenant was known %s after this withdrawal: not received, or still on its way (withdraw it again later)", id, p.cfg.WithdrawWait))
		}
		if total, perTenant := waitingLimits(p.lay.MaxAckPend); !p.waits.admit(j.tenant, seq, now, p.cfg.WithdrawWait, total, perTenant) {
			return p.withdrawalRefused(ctx, j, id, WithdrawUnknown,
				fmt.Sprintf("no submission %s of this tenant is known, and as many withdrawals as may wait for theirs do: not received, or still on its way (withdraw it again later)", id))
		}
		// Published before this withdrawal, it is delivered before it, and
		// may still be being validated, or fetched ahead by a replica whose
		// workers are all busy: look again soon (from a second, doubling,
		// at most withdrawRecheck).
		return Outcome{Kind: Busy, Delay: withdrawRecheck}
	case CancelBeingSent:
		return p.withdrawalRefused(ctx, j, id, WithdrawTooLate, "too late: "+res.Why)
	default: // CancelNotHeld: sent, or rejected or failed after a POST that may have created its request
		return p.withdrawalRefused(ctx, j, id, WithdrawTooLate, "too late: "+res.Why)
	}
}

// withdrawnClosed is the outcome of a withdrawal of a submission rejected
// or failed with nothing sent, now marked withdrawn (CancelClosed): its
// rejected or failed event again, with reason withdrawn and its own id per
// generation (publisher.WithdrawnEventID: a redelivery of the withdrawal,
// or another one, is announced once), saying that nothing was sent and
// that a replay is refused unless the tenant asks.
func (p *Pipeline) withdrawnClosed(ctx context.Context, j *job, id string) Outcome {
	rec, _, err := p.store.Get(ctx, j.tenant, id)
	if err != nil {
		return p.retry(fmt.Errorf("withdrawal: read the record: %w", err), 0)
	}
	why := fmt.Sprintf("withdrawn after it was %s (%s): nothing was sent, and an operator's replay of its dead letter is refused "+
		"unless this tenant asks for it", rec.State, rec.Reason)
	return Outcome{Kind: Done, Reason: dlq.ReasonWithdrawn, Err: errors.New(why),
		Event: &publisher.Status{SubmissionID: id, Tenant: j.tenant, State: rec.State, Generation: rec.Generation,
			Service: rec.Service, ServiceHash: rec.ServiceHash, Reason: dlq.ReasonWithdrawn, Metadata: rec.Metadata, At: p.cfg.Now(),
			Errors:  []publisher.Problem{{Code: dlq.ReasonWithdrawn, Message: why}},
			EventID: publisher.WithdrawnEventID(j.tenant, id, rec.Generation)}}
}

// withdrawalRefused is the outcome of a withdrawal that changed nothing:
// its notice to the producer, with the submission's generation and
// metadata when it has a record, under an id of its own per message
// (publisher.WithdrawalRefusedEventID). Nothing is dead-lettered: the
// withdrawal is the producer's, and the notice tells it all.
func (p *Pipeline) withdrawalRefused(ctx context.Context, j *job, id, code, why string) Outcome {
	if id == "" {
		return p.malformed(ctx, j, fmt.Errorf("%w: %s", ErrMalformed, why))
	}
	gen := 0
	var meta json.RawMessage
	if rec, _, err := p.store.Get(ctx, j.tenant, id); err == nil {
		gen, meta = rec.Generation, rec.Metadata
	} else if !errors.Is(err, record.ErrNotFound) {
		return p.retry(fmt.Errorf("withdrawal refused: read the record: %w", err), 0)
	}
	return Outcome{Kind: Done, Reason: code, Err: errors.New(why),
		Event: &publisher.Status{SubmissionID: id, Tenant: j.tenant, State: publisher.StateWithdrawalRefused,
			Generation: gen, Reason: code, Metadata: meta, At: p.cfg.Now(),
			Errors:  []publisher.Problem{{Code: code, Message: why}},
			EventID: publisher.WithdrawalRefusedEventID(j.tenant, id, j.meta.Timestamp)}}
}
