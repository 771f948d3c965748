package publisher

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// States of a submission as status events name them; the event type is
// "iseed.submission.<state>".
const (
	StateRejected   = "rejected"    // invalid; nothing was sent upstream
	StateHeld       = "held"        // held back before it is sent (its code says why); sent when that allows
	StateSubmitted  = "submitted"   // the upstream request exists
	StateInProgress = "in_progress" // upstream: In erogazione
	StateDataReady  = "data_ready"  // upstream: Dati disponibili
	StateCompleted  = "completed"   // upstream: Visura evasa
	StateCancelled  = "cancelled"   // upstream: Annullata
	StateOverdue    = "overdue"     // not finished after the configured time
	StateFailed     = "failed"      // dead-lettered
	// StateConflict names no state a submission is in: its event tells the
	// producer that a message reused the submission's id with another
	// payload, and was not sent. The submission is untouched.
	StateConflict = "conflict"
	// StateWithdrawalRefused names no state either: its event tells the
	// producer that its withdrawal of the submission changed nothing (too
	// late, closed, unknown, or a malformed withdrawal), and why.
	StateWithdrawalRefused = "withdrawal_refused"
)

// Codes of a held event's problem that no spending cap gives (the caps' own
// are <scope>_<period>_<unit>, <scope>_paused and unknown_price: budget):
// HeldFairShare, its tenant has its share of the upstream budget's waits
// already; HeldQueued, older held submissions of its tenant go first.
const (
	HeldFairShare = "fair_share"
	HeldQueued    = "queued"
)

// HeldForMoney reports whether a held submission's code is a spending cap's
// or a pause's: not its tenant's fair share of the upstream budget, nor a
// place behind older holds (which wait for whatever holds those).
func HeldForMoney(code string) bool {
	return code != HeldFairShare && code != HeldQueued
}

// TypeDocumentReady is the type of document-ready events.
const TypeDocumentReady = "iseed.document.ready"

// Problem is one reason a submission was rejected or failed.
type Problem struct {
	Field   string `json:"field,omitempty"`
	Name    string `json:"name,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Outcome is the upstream's esito of a request.
type Outcome struct {
	Code string `json:"codice"`
	Info string `json:"info"`
}

// Status is the data of a status event.
type Status struct {
	SubmissionID   string          `json:"submission_id"`
	Tenant         string          `json:"tenant"`
	State          string          `json:"state"`
	Generation     int             `json:"generation"`        // 1, +1 after each replay; 0 for a malformed message's rejection
	Service        string          `json:"service,omitempty"` // catalog name
	ServiceHash    string          `json:"service_hash,omitempty"`
	RequestID      string          `json:"request_id,omitempty"`      // upstream _id
	StatoRichiesta string          `json:"stato_richiesta,omitempty"` // upstream state as spelled; free text cut (record.MaxStato)
	Price          *float64        `json:"price,omitempty"`           // euro
	Reason         string          `json:"reason,omitempty"`          // failed: reason code; cancelled: motivo
	Errors         []Problem       `json:"errors,omitempty"`
	Outcome        *Outcome        `json:"esito,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"` // the submission's metadata, echoed
	At             time.Time       `json:"-"`                  // when the state was reached: the event's time
	// EventID replaces the event's id when set: the rejection of a
	// malformed message is one per message (MalformedEventID), so that it
	// never takes the id of the submission's own events.
	EventID string `json:"-"`
}

// MalformedEventID is the id of the rejected event about a malformed
// message: "<tenant>.<id>.malformed.<the first 16 hex digits of the
// SHA-256 of its payload>". The same bad payload sent again is announced
// once; another one, and the corrected submission's own events, each have
// their own.
func MalformedEventID(tenant, submissionID string, payload []byte) string {
	sum := sha256.Sum256(payload)
	return fmt.Sprintf("%s.%s.malformed.%x", tenant, submissionID, sum[:8])
}

// FailedBeforeRecordEventID is the id of the failed event about a
// message that failed before any record of its id was written (it
// expired, or ran out of deliveries, unclaimed): "<tenant>.<id>.<reason>.
// <the first 16 hex digits of the SHA-256 of its payload>". It has
// generation 0, whose StatusEventID is generation 1's: it would take the id
// of the failure of the submission sent again, and hide it.
func FailedBeforeRecordEventID(tenant, submissionID, reason string, payload []byte) string {
	sum := sha256.Sum256(payload)
	return fmt.Sprintf("%s.%s.%s.%x", tenant, submissionID, reason, sum[:8])
}

// ConflictEventID is the id of the conflict event about a message that
// reused a submission's id with another payload: "<tenant>.<id>.conflict.
// <the first 16 hex digits of that payload's fingerprint>". Each other
// payload is announced once.
func ConflictEventID(tenant, submissionID, fingerprint string) string {
	return fmt.Sprintf("%s.%s.conflict.%.16s", tenant, submissionID, fingerprint)
}

// WithdrawalRefusedEventID is the id of the notice refusing a withdrawal:
// "<tenant>.<id>.withdrawal_refused.<the withdrawal's time in the
// submissions stream, Unix nanoseconds>". A redelivery of the withdrawal
// is announced once; each withdrawal sent, once each.
func WithdrawalRefusedEventID(tenant, submissionID string, published time.Time) string {
	return fmt.Sprintf("%s.%s.%s.%d", tenant, submissionID, StateWithdrawalRefused, published.UnixNano())
}

// WithdrawnEventID is the id of the rejected or failed event announcing
// again, with reason withdrawn, a submission its producer withdrew after
// it was rejected or failed with nothing sent: "<tenant>.<id>.<generation>.
// withdrawn". Each generation's withdrawal is announced once.
func WithdrawnEventID(tenant, submissionID string, generation int) string {
	return fmt.Sprintf("%s.%s.%d.withdrawn", tenant, submissionID, max(generation, 1))
}

// DocumentReady is the data of a document-ready event. It never carries the
// document itself.
type DocumentReady struct {
	SubmissionID string `json:"submission_id"`
	Tenant       string `json:"tenant"`
	RequestID    string `json:"request_id"`
	// Stato is the upstream state the document was fetched in: "Dati
	// disponibili" (an ISEE's DSU receipt, say) or "Visura evasa".
	Stato string `json:"stato"`
	// Final is true for the request's final document, fetched in "Visura
	// evasa"; an earlier one is announced with false.
	Final        bool            `json:"final"`
	Bucket       string          `json:"bucket"`
	Object       string          `json:"object"`
	Name         string          `json:"name"` // the upstream's file name
	Size         int64           `json:"size"`
	DeclaredSize int64           `json:"declared_size,omitempty"` // the upstream's dimensione, when it differs from Size
	SHA256       string          `json:"sha256"`                  // hex, of the plaintext document
	ContentType  string          `json:"content_type"`
	Encrypted    bool            `json:"encrypted"`
	KeyID        string          `json:"key_id,omitempty"`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
	At           time.Time       `json:"-"`
	// EventID replaces the event's id (DocumentEventID) when set: a final
	// document stored anew beside its receipt is announced under an id
	// of its own (tracking.FinalDocumentEventID).
	EventID string `json:"-"`
}

// StatusType returns the CloudEvents type of a state, e.g. "iseed.submission.submitted".
func StatusType(state string) string { return "iseed.submission." + state }

// StatusEventID is the deterministic id (and Nats-Msg-Id) of a status event.
func StatusEventID(tenant, submissionID string, generation int, state string) string {
	if generation < 1 {
		generation = 1
	}
	return fmt.Sprintf("%s.%s.%d.%s", tenant, submissionID, generation, state)
}

// StatusAfterReplayEventID is the id of a status event that tracking
// publishes about a submission a replay reopened (docs/tracking.md):
// StatusEventID's with ".r<the last replayed dead letter's sequence>"
// after it, StatusEventID's when replaySeq is 0 (no replay). Tracking
// reopens a give-up in the same generation: the states announced before
// it, announced again with their plain ids, would be deduplicated away,
// and the submission's last status event would stay failed while its
// record is open again (or completed).
func StatusAfterReplayEventID(tenant, submissionID string, generation int, state string, replaySeq uint64) string {
	id := StatusEventID(tenant, submissionID, generation, state)
	if replaySeq == 0 {
		return id
	}
	return fmt.Sprintf("%s.r%d", id, replaySeq)
}

// OverrideEventID is the id of the completed event of a request that
// tracking gave up on and that the upstream completed all the same
// (docs/tracking.md): the completed event's id (StatusAfterReplayEventID's,
// replaySeq the record's last replay, 0 for none) with ".overrides_gave_up"
// after it. A completed event published before the give-up's failed event
// (by a catch-up that then lost the race) has the id without the suffix;
// this one, which comes after failed, must not be deduplicated with it.
func OverrideEventID(tenant, submissionID string, generation int, replaySeq uint64) string {
	return StatusAfterReplayEventID(tenant, submissionID, generation, StateCompleted, replaySeq) + ".overrides_gave_up"
}

// GiveUpAfterReplayEventID is the id of the failed event of a give-up of
// a submission that a replay reopened: StatusAfterReplayEventID's for
// failed. A second give-up's failed event would otherwise have the first
// one's id, and be deduplicated away after the reopened request's own
// events.
func GiveUpAfterReplayEventID(tenant, submissionID string, generation int, replaySeq uint64) string {
	return StatusAfterReplayEventID(tenant, submissionID, generation, StateFailed, replaySeq)
}

// StatusEvent builds the envelope of a status event without publishing it.
func (p *Publisher) StatusEvent(s Status) (*Event, error) {
	if s.Tenant == "" || s.SubmissionID == "" || s.State == "" {
		return nil, errors.New("publisher: status event needs tenant, submission id and state")
	}
	id := StatusEventID(s.Tenant, s.SubmissionID, s.Generation, s.State)
	if s.EventID != "" {
		id = s.EventID
	}
	return p.envelope(id, StatusType(s.State), s.SubmissionID, at(s.At), s)
}

// DocumentEvent builds the envelope of a document-ready event without publishing it.
func (p *Publisher) DocumentEvent(d DocumentReady) (*Event, error) {
	if d.Tenant == "" || d.SubmissionID == "" || d.Object == "" {
		return nil, errors.New("publisher: document event needs tenant, submission id and object")
	}
	id := DocumentEventID(d.Tenant, d.SubmissionID, d.SHA256, d.Final)
	if d.EventID != "" {
		id = d.EventID
	}
	return p.envelope(id, TypeDocumentReady, d.SubmissionID, at(d.At), d)
}

// DocumentEventID is the deterministic id (and Nats-Msg-Id) of a
// document-ready event: "<tenant>.<id>.document.<the first 16 hex digits
// of sha256>", and ".final" after it for the final document. One event per
// distinct document and stage: a final document that replaces an earlier
// one is announced, and so is a final document that is the earlier one
// (the same bytes in "Visura evasa"), which the plain id would have
// deduplicated away.
func DocumentEventID(tenant, submissionID, sha256 string, final bool) string {
	id := fmt.Sprintf("%s.%s.document.%.16s", tenant, submissionID, sha256)
	if final {
		id += ".final"
	}
	return id
}

func at(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// Account event types: the Openapi wallet ran empty, or has credit again.
const (
	AccountWalletEmpty    = "iseed.account.wallet_empty"
	AccountWalletRefilled = "iseed.account.wallet_refilled"
)

// AccountEvent is the data of an account-wide event.
type AccountEvent struct {
	Type string    `json:"-"`
	At   time.Time `json:"at"` // when the wallet was found empty, or refilled
	// EmptySince is, on wallet_refilled, when the wallet was found empty:
	// the event's id names its minute, so that replicas that saw the same
	// emptiness begin announce its end once.
	EmptySince time.Time `json:"empty_since,omitzero"`
}
