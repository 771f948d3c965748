package record

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/publisher"
)

// Record states. A record is created by the pipeline's claim and changed
// only by compare-and-set on its KV revision.
const (
	StateClaimed    = "claimed" // being submitted; Pending says whether a POST may be in flight
	StateHeld       = publisher.StateHeld
	StateRejected   = publisher.StateRejected
	StateSubmitted  = publisher.StateSubmitted
	StateInProgress = publisher.StateInProgress
	StateDataReady  = publisher.StateDataReady
	StateCompleted  = publisher.StateCompleted
	StateCancelled  = publisher.StateCancelled
	StateFailed     = publisher.StateFailed
	// StateOverdue marks, in a record's timeline only, that the overdue
	// event was published. It is never a record's State.
	StateOverdue = publisher.StateOverdue
)

// CancelledByTenant is Record.CancelledBy of a submission its own
// producer withdrew.
const CancelledByTenant = "tenant"

// CancelledByWhom says who asked for the record's cancel (CancelRequested):
// "by its producer (a withdrawal)" or "by an operator (iseed cancel)".
func (r *Record) CancelledByWhom() string {
	if r.CancelledBy == CancelledByTenant {
		return "by its producer (a withdrawal)"
	}
	return "by an operator (iseed cancel)"
}

// WithdrawnClosed reports whether the record is rejected or failed with
// nothing sent, and its producer withdrew it: failed withdrawn (a
// withdrawal while it was held or claimed), or withdrawn after it failed
// or was rejected. Its dead letters are replayed only when the tenant asks
// (dlq.CheckReopen): a replay would send it against the producer's wish.
func (r *Record) WithdrawnClosed() bool {
	return r.CancelledBy == CancelledByTenant && !r.CancelRequested.IsZero() &&
		(r.State == StateFailed || r.State == StateRejected) && r.RequestID == "" && !r.PostInDoubt()
}

// Record is what iseed knows of one submission, kept in the records bucket
// under Key(tenant, id). It holds no payload (the payload is known only by
// its fingerprint); what it holds of the tenant's (the metadata, the person
// key, the problems' texts), the document's file name and a request state
// the API does not publish (the upstream's free text), go when it is
// closed and scrubbed (Scrub).
type Record struct {
	Tenant         string              `json:"tenant"`
	ID             string              `json:"id"`
	Fingerprint    string              `json:"fingerprint"`
	Generation     int                 `json:"generation"` // 1, then +1 for each operator replay that reopens it
	State          string              `json:"state"`
	Service        string              `json:"service,omitempty"`
	ServiceHash    string              `json:"service_hash,omitempty"`
	Price          *float64            `json:"price,omitempty"`
	RequestID      string              `json:"request_id,omitempty"`
	StatoRichiesta string              `json:"stato_richiesta,omitempty"`
	Pending        *Attempt            `json:"pending,omitempty"` // a POST whose outcome is unknown
	Attempts       int                 `json:"attempts"`          // POSTs tried, all generations
	Reason         string              `json:"reason,omitempty"`  // failed: reason code
	Errors         []publisher.Problem `json:"errors,omitempty"`
	// UpstreamMessage is the upstream's own message of the refusal that
	// failed the submission (a POST's: upstream_rejected; or an ambiguous
	// answer's), as visengine.Error.UpstreamMessage gives it, cut to
	// MaxUpstreamMessage: the field it names, which the error code alone
	// does not say. It may echo what the request carried (a tax code, a
	// name): personal data, shown only where that may be (iseed status,
	// iseed dlq show --reveal, the console's reveal), never in a log line or
	// an event. A reopen clears it, and the retention scrubs it (Scrub).
	UpstreamMessage string          `json:"upstream_message,omitempty"`
	Metadata        json.RawMessage `json:"metadata,omitempty"`
	// PersonKey is a keyed hash of the tenant and the person's tax code
	// (tracking.History), never the tax code: for the prior-ISEE rule.
	PersonKey string       `json:"person_key,omitempty"`
	Timeline  []Transition `json:"timeline"`
	Replays   []Replay     `json:"replays,omitempty"` // operator replays of dead letters that reopened it
	// HeldSince is when a spending cap first held the submission back: its
	// place in the queue of its tenant's held submissions.
	HeldSince time.Time `json:"held_since,omitzero"`
	// CancelRequested is when an operator asked (iseed cancel), or its
	// producer (a withdrawal), that the submission be failed
	// cancelled_by_operator, or withdrawn, instead of sent.
	// Only a held or claimed record with no POST in doubt gets it
	// (CancelUnsent), and the next delivery of the submission fails it so; a
	// replay that reopens the submission clears it. A withdrawal also marks
	// a record rejected or failed with nothing sent (WithdrawnClosed): a
	// replay of its dead letters is then refused unless the tenant asks.
	CancelRequested time.Time `json:"cancel_requested,omitzero"`
	// CancelledBy says who asked: CancelledByTenant for the submission's
	// own producer (a withdrawal: failed withdrawn); empty for an
	// operator. A replay clears it with CancelRequested.
	CancelledBy  string    `json:"cancelled_by,omitempty"`
	FirstFailure time.Time `json:"first_failure,omitzero"`
	LastFailure  time.Time `json:"last_failure,omitzero"`
	// PollsFailing is when the tracker's reads of the upstream request
	// (GET /richiesta/{id}) began failing, none succeeding since: their
	// retries back off from it. Zero once a read succeeds.
	PollsFailing time.Time    `json:"polls_failing,omitzero"`
	Created      time.Time    `json:"created"`
	Updated      time.Time    `json:"updated"`
	Document     *DocumentRef `json:"document,omitempty"`
	// Charge is what the upstream request costs, as iseed knows it when it
	// records the request: what the ledger enters.
	Charge *Charge `json:"charge,omitempty"`
	// Callback says whether the upstream was asked to call iseed back on
	// the state changes of request RequestID: true when the POST that
	// created it carried callback_data, false for a request posted
	// without (callbacks off then) and for one found by reconciliation
	// that no known POST of it promised one. It is written with
	// RequestID, in the same record write. Nil in records written before
	// the field existed: whether a callback was promised is unknown
	// (Promised and Unpromised are both false).
	Callback *bool `json:"callback,omitempty"`
	// Reserved is the amount a spending cap counted for the submission
	// (budget.Reservation), until it is committed or given back.
	Reserved *Reserved `json:"reserved,omitempty"`
	// Scrubbed is when the retention removed the tenant's data (Scrub)
	// from the closed record: why it has no metadata, person key or
	// problem messages. Zero while it has them, and again once a replay
	// reopens it with its payload's. iseed erase sets it each time it
	// erases the submission, even when nothing was left to remove: the
	// pipeline reads it back to tell a dead letter it stored meanwhile
	// (consumer/erased.go).
	Scrubbed time.Time `json:"scrubbed,omitzero"`
}

// Charge is the price of one upstream request.
type Charge struct {
	ServicePrice money.Cents    `json:"service_price"`
	SearchPrice  money.Cents    `json:"search_price,omitzero"`
	Options      []ChargeOption `json:"options,omitempty"`
	Total        money.Cents    `json:"total"`
	At           time.Time      `json:"at"`     // the upstream's timestamp_creation, else when recorded
	Source       string         `json:"source"` // how iseed came to know the request: posted, reconciled
}

// ChargeOption is a chosen option and its price.
type ChargeOption struct {
	Name  string      `json:"name"`
	Type  string      `json:"type,omitempty"`
	Price money.Cents `json:"price"`
}

// Reserved is a spending cap's reservation for the submission.
type Reserved struct {
	Amount money.Cents `json:"amount"`
	Day    string      `json:"day"` // the Europe/Rome day it counts in, 2006-01-02
}

// Attempt is a POST /richiesta that may have reached the upstream. While a
// record has one, no new POST is made before reconciling, unless it is
// Unsent.
type Attempt struct {
	Started time.Time `json:"started"`
	Owner   string    `json:"owner"`           // the delivery holding the lease
	Until   time.Time `json:"until"`           // the lease; after it another worker may take over
	Settle  time.Time `json:"settle,omitzero"` // no unanswered POST creates a request after this
	// Marked is true when every POST of this attempt carried the
	// submission's marker (its callback_data): a request created by it can
	// be told apart from any other.
	Marked bool `json:"marked,omitempty"`
	// Unsent is true while the lease's holder has sent no POST under it:
	// it is waiting for the upstream budget's token, which can take
	// minutes. The holder clears it, compare-and-set on the record, before
	// its POST, so a lease that ends with it set (its worker killed, say)
	// proves no request exists: the next delivery takes over without
	// reconciling. Never set on an attempt that covers an earlier POST.
	Unsent bool `json:"unsent,omitempty"`
	// Answered is the request id a POST of this attempt got back, kept
	// here when the request index could not be written: the request is
	// the submission's, and the next delivery adopts it instead of
	// reconciling (where, unindexed and unmarked, it would be ambiguous).
	Answered string `json:"answered,omitempty"`
	// Reconciled says that Answered was found by reconciliation (the
	// request proven the submission's), not in a POST's answer: the
	// charge of its adoption says so (ledger.SourceReconciled).
	Reconciled bool `json:"reconciled,omitempty"`
	// Seq is the submissions stream's sequence of the message whose
	// delivery holds the lease (0: a lease written before it was kept, or
	// by no delivery). Another message of the same submission, arriving
	// while the lease is live, is a copy that delivery carries.
	Seq uint64 `json:"seq,omitempty"`
}

// PostInDoubt reports whether a POST of the record may have created an
// upstream request that the record does not name: a pending attempt that
// is not Unsent.
func (r *Record) PostInDoubt() bool { return r.Pending != nil && !r.Pending.Unsent }

// Answered returns the request id a POST of the record's pending attempt
// got back and could not index (Attempt.Answered); "" when none, or when
// the record names its request already.
func (r *Record) Answered() string {
	if r.Pending == nil || r.RequestID != "" {
		return ""
	}
	return r.Pending.Answered
}

// Transition is one entry of a submission's timeline.
type Transition struct {
	State string    `json:"state"`
	At    time.Time `json:"at"`
	Note  string    `json:"note,omitempty"`
}

// Replay is one operator replay of a dead letter that reopened the record.
// A dead letter reopens a record at most once: its sequence is kept here.
type Replay struct {
	Seq uint64    `json:"seq"` // the dead letter's sequence in the DLQ stream
	At  time.Time `json:"at"`
}

// DocumentRef names the stored document of a submission.
type DocumentRef struct {
	Bucket string `json:"bucket"`
	Object string `json:"object"`
	Size   int64  `json:"size"`
	// DeclaredSize is the upstream's dimensione when it differs from Size
	// (the document is kept as received, with its digest).
	DeclaredSize int64  `json:"declared_size,omitempty"`
	SHA256       string `json:"sha256"`
	ContentType  string `json:"content_type"`
	Stato        string `json:"stato,omitempty"` // the upstream state it was fetched in
	// Stored is when the object was stored, as the server recorded it
	// (its meta's time, UTC): the bucket's TTL (ISEED_DOCUMENT_TTL)
	// deletes it that long after. Zero in records written before the
	// field existed (tracking.CheckDocument then estimates).
	Stored time.Time `json:"stored,omitzero"`
}

// To moves the record to state at t, appending to the timeline.
func (r *Record) To(state string, t time.Time, note string) {
	r.State = state
	r.Updated = t
	// Clip: records are copied by value before a compare-and-set, and two
	// copies must never append into one backing array.
	r.Timeline = append(slices.Clip(r.Timeline), Transition{State: state, At: t, Note: note})
}

// Note appends a timeline entry that is not a state change (overdue).
func (r *Record) Note(state string, t time.Time, note string) {
	r.Updated = t
	r.Timeline = append(slices.Clip(r.Timeline), Transition{State: state, At: t, Note: note})
}

// EnteredAt returns when the record last entered state (zero if never).
func (r *Record) EnteredAt(state string) time.Time {
	for i := len(r.Timeline) - 1; i >= 0; i-- {
		if r.Timeline[i].State == state {
			return r.Timeline[i].At
		}
	}
	return time.Time{}
}

// FailedAt notes a failure at t.
func (r *Record) FailedAt(t time.Time) {
	if r.FirstFailure.IsZero() {
		r.FirstFailure = t
	}
	r.LastFailure = t
}

// Replayed reports whether dead letter seq already reopened the record.
func (r *Record) Replayed(seq uint64) bool {
	return slices.ContainsFunc(r.Replays, func(p Replay) bool { return p.Seq == seq })
}

// AddReplay notes that dead letter seq reopened the record at t.
func (r *Record) AddReplay(seq uint64, t time.Time) {
	r.Replays = append(slices.Clip(r.Replays), Replay{Seq: seq, At: t})
}

// LastReplay is when the last replay reopened the record (zero if never).
func (r *Record) LastReplay() time.Time {
	if len(r.Replays) == 0 {
		return time.Time{}
	}
	return r.Replays[len(r.Replays)-1].At
}

// SubmittedAt is when the upstream request was created, as far as iseed knows.
func (r *Record) SubmittedAt() time.Time {
	if t := r.EnteredAt(StateSubmitted); !t.IsZero() {
		return t
	}
	return r.Created
}

// Promised reports whether the request's POST is known to have carried
// callback_data: a callback may announce its state changes.
func (r *Record) Promised() bool { return r.Callback != nil && *r.Callback }

// Unpromised reports whether the request is known to have been posted
// without callback_data: no callback will ever announce it. A record
// written before Callback existed is neither promised nor unpromised.
func (r *Record) Unpromised() bool { return r.Callback != nil && !*r.Callback }

// Clone copies a record deeply enough to change its timeline and replays.
func (r *Record) Clone() *Record {
	c := *r
	c.Timeline = slices.Clone(r.Timeline)
	c.Replays = slices.Clone(r.Replays)
	return &c
}

// Status builds the status event of the record in state.
func (r *Record) Status(state string) *publisher.Status {
	s := &publisher.Status{SubmissionID: r.ID, Tenant: r.Tenant, State: state, Generation: r.Generation,
		Service: r.Service, ServiceHash: r.ServiceHash, RequestID: r.RequestID, StatoRichiesta: r.StatoRichiesta,
		Price: r.Price, Metadata: r.Metadata, At: r.EnteredAt(state)}
	if state == StateRejected || state == StateFailed || state == StateHeld {
		s.Errors = r.Errors
		s.Reason = r.Reason
		s.Price = nil
	}
	return s
}

// legacyReplayNote is how records written before Replays existed noted a
// replay in their timeline.
const legacyReplayNote = "replay of dead letter "

// upgrade fills Replays of a record written before they existed from its
// timeline notes.
func (r *Record) upgrade() {
	if len(r.Replays) > 0 {
		return
	}
	for _, t := range r.Timeline {
		if s, ok := strings.CutPrefix(t.Note, legacyReplayNote); ok {
			if seq, err := strconv.ParseUint(s, 10, 64); err == nil {
				r.Replays = append(r.Replays, Replay{Seq: seq, At: t.At})
			}
		}
	}
}

// MaxStato bounds the stato_richiesta a record keeps (Stato). The states
// the API publishes are short; anything else is the upstream's free text,
// which the client reads up to 1 MiB: kept whole, it could take a record,
// and the events made from it, over the server's maximum payload, and no
// write of them would ever succeed.
const MaxStato = 256

// MaxUpstreamMessage bounds the upstream's message a record keeps
// (UpstreamMessage): the client reads up to 2 KiB of it, and a record
// holds one.
const MaxUpstreamMessage = 1 << 10

// Stato is the upstream's stato_richiesta as a record keeps it: cut to
// MaxStato bytes and an ellipsis (Cut).
func Stato(s string) string { return Cut(s, MaxStato) }

// Cut shortens s to at most n bytes and an ellipsis, never leaving half a
// rune.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
