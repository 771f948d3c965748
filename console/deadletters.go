package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// maxDeadLetters bounds the dead letters one list page reads.
const maxDeadLetters = 500

func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := deadLettersData{Tenant: q.Get("tenant"), Reason: q.Get("reason"), Reasons: dlq.Reasons()}
	if seq, err := strconv.ParseUint(q.Get("replayed"), 10, 64); err == nil && c.auth.noticeOK(q, replayedFields...) {
		d.Replayed = &replayed{Seq: seq, Tenant: q.Get("rt"), ID: q.Get("rid"), Kept: q.Get("kept") == "1"}
	}
	if d.Tenant != "" && !record.ValidToken(d.Tenant) {
		d.Problem = filterProblem(d.Tenant, "reason", d.Reason, d.Reasons)
		c.render(w, r, http.StatusBadRequest, "deadletters", "Dead letters", d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	tenant := d.Tenant
	if tenant == "" {
		tenant = "*"
	}
	// Ask the stream first: listing an empty selection would wait out a fetch.
	info, err := c.d.Resources.DLQ.Info(ctx, jetstream.WithSubjectFilter(c.d.Resources.Layout.DLQSubject(tenant, "*")))
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "The dead letters cannot be read right now: "+err.Error())
		return
	}
	if len(info.State.Subjects) > 0 {
		d.Letters, err = c.d.DeadLetters.List(ctx, dlq.Filter{Tenant: d.Tenant, Reason: d.Reason, Limit: maxDeadLetters})
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "The dead letters cannot be read right now: "+err.Error())
			return
		}
	}
	// A reason iseed does not give is a mistake, unless letters carry it
	// (of an earlier version, say, which the overview counts and links to).
	if d.Problem = filterProblem("", "reason", d.Reason, d.Reasons); d.Problem != "" && len(d.Letters) == 0 {
		c.render(w, r, http.StatusBadRequest, "deadletters", "Dead letters", d)
		return
	}
	d.Problem = ""
	d.Truncated = len(d.Letters) == maxDeadLetters
	c.render(w, r, http.StatusOK, "deadletters", "Dead letters", d)
}

type deadLettersData struct {
	Tenant, Reason string
	Reasons        []string
	Letters        []dlq.DeadLetter
	Truncated      bool
	Replayed       *replayed
	Problem        string
}

// replayedFields are the query fields of the notice after a replay, which
// the replay's redirect signs (auth.signNotice).
var replayedFields = []string{"replayed", "rt", "rid", "kept"}

// replayed names the dead letter just replayed, for the list's notice.
type replayed struct {
	Seq        uint64
	Tenant, ID string
	Kept       bool // published, but the letter could not be removed (dlq.ErrNotRemoved)
}

// letter reads dead letter {seq}, or answers the request itself (false).
func (c *Console) letter(w http.ResponseWriter, r *http.Request) (*deadLetterData, bool) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		c.fail(w, r, http.StatusNotFound, "A dead letter is named by its sequence number.")
		return nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	raw, err := c.d.Resources.DLQ.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		c.fail(w, r, http.StatusNotFound, "There is no dead letter "+strconv.FormatUint(seq, 10)+": it was replayed, or it expired.")
		return nil, false
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "The dead letter cannot be read right now: "+err.Error())
		return nil, false
	}
	dl := dlq.Parse(seq, raw.Header)
	dl.Stored = raw.Time
	d := &deadLetterData{DL: dl, Size: len(raw.Data), payload: raw.Data}
	d.Masked, d.MaskedSize = Mask(raw.Data)
	var refused *dlq.RefusedError
	if errors.As(dlq.CheckOrigin(c.d.Resources.Layout, raw.Subject, dl), &refused) || errors.As(consumer.CheckReplay(dl, raw.Data, c.d.Resources.MaxSubmissionBytes()), &refused) {
		d.Refused = refused
		return d, true
	}
	rec, err := c.letterRecord(ctx, dl)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "The submission's record cannot be read right now: "+err.Error())
		return nil, false
	}
	d.rec = rec
	fingerprint := consumer.LetterFingerprint(raw.Data)
	reopens, err := c.d.DeadLetters.CheckReopen(ctx, dl, fingerprint, rec)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "Whether a replay would reopen the submission cannot be told right now: "+err.Error())
		return nil, false
	}
	if reopens == nil {
		reopens = dlq.CheckPlainReplay(dl, fingerprint, rec) // a correction is iseed dlq replay --edit's
	}
	if errors.As(reopens, &refused) {
		d.Refused = refused
	}
	return d, true
}

// letterRecord reads the record of a letter's submission, which says
// whether a replay can reopen anything (dlq.Queue.CheckReopen); nil for a letter
// that names none, or when there is no record.
func (c *Console) letterRecord(ctx context.Context, dl dlq.DeadLetter) (*record.Record, error) {
	if !record.ValidToken(dl.Tenant) || !record.ValidToken(dl.SubmissionID) {
		return nil, nil
	}
	rec, _, err := record.NewStore(c.d.Resources.Records).Get(ctx, dl.Tenant, dl.SubmissionID)
	if errors.Is(err, record.ErrNotFound) {
		return nil, nil
	}
	return rec, err
}

type deadLetterData struct {
	DL       dlq.DeadLetter
	Refused  *dlq.RefusedError // why it is not replayed unchanged (invalid, malformed, conflict; one that would reopen nothing, or correct its submission): consumer.CheckReplay, dlq.Queue.CheckReopen and dlq.CheckPlainReplay, as iseed dlq replay refuses it
	Size     int
	Masked   string
	Revealed string
	// MaskedSize and RevealedSize are the bytes of the whole masked and
	// revealed payload, indented, of which Masked and Revealed are the
	// first maxShown at most.
	MaskedSize, RevealedSize int
	// Upstream is the upstream's own message of the failure that stored
	// the letter (record.Record.UpstreamMessage), set on a reveal only:
	// personal data, as the payload.
	Upstream string
	payload  []byte
	rec      *record.Record // the submission's record, when it was read
}

// MaskedCut reports whether Masked is only the start of the masked payload.
func (d *deadLetterData) MaskedCut() bool { return len(d.Masked) < d.MaskedSize }

// RevealedCut reports whether Revealed is only the start of the payload.
func (d *deadLetterData) RevealedCut() bool { return len(d.Revealed) < d.RevealedSize }

// MaxShown is what a page shows of a payload, in KiB.
func (d *deadLetterData) MaxShown() int { return maxShown >> 10 }

func (c *Console) deadLetter(w http.ResponseWriter, r *http.Request) {
	if d, ok := c.letter(w, r); ok {
		c.render(w, r, http.StatusOK, "deadletter", "Dead letter "+r.PathValue("seq"), d)
	}
}

func (c *Console) confirmReplay(w http.ResponseWriter, r *http.Request) {
	if d, ok := c.letter(w, r); ok {
		c.render(w, r, http.StatusOK, "confirm", "Replay dead letter "+r.PathValue("seq"), d)
	}
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	d, ok := c.letter(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	seq := d.DL.Seq
	log := c.log.With().Uint64("seq", seq).Str("tenant", d.DL.Tenant).Str("submission", d.DL.SubmissionID).
		Str("reason", d.DL.Reason).Str("remote", c.remote(r)).Logger()
	if d.Refused != nil { // it would be rejected again: the same refusal as iseed dlq replay's
		c.fail(w, r, http.StatusConflict, "Not replayed: "+d.Refused.Why+"; "+d.Refused.Advice+".")
		return
	}
	v := url.Values{"replayed": {strconv.FormatUint(seq, 10)}, "rt": {d.DL.Tenant}, "rid": {d.DL.SubmissionID}}
	err := c.d.DeadLetters.Replay(ctx, seq)
	if errors.Is(err, dlq.ErrNotRemoved) {
		// Published: the replay is done, only the letter is left, which
		// reopens nothing if replayed again (iseed dlq replay says so too).
		// A replay all the same: an audit line, as one removed.
		audit(log).Err(err).Msg("console: dead letter replayed, but not removed")
		v.Set("kept", "1")
		c.auth.signNotice(v, replayedFields...)
		http.Redirect(w, r, "/dead-letters?"+v.Encode(), http.StatusSeeOther)
		return
	}
	if errors.Is(err, dlq.ErrNotFound) {
		// Read a moment ago, gone now: another tab, operator or iseed dlq
		// replay removed it between the checks above and this replay.
		c.fail(w, r, http.StatusConflict, "Not replayed here: dead letter "+strconv.FormatUint(seq, 10)+
			" was replayed or purged meanwhile (in another tab, by another operator, or with iseed dlq); it is no longer in the queue.")
		return
	}
	if err != nil {
		if errors.Is(err, dlq.ErrMaybeStored) {
			// It may have been stored, and the submission reopen: an
			// audit line, which a failure's warning is not.
			audit(log).Err(err).Msg("console: dead letter replayed, its publish unanswered: it may have been stored")
		} else {
			log.Warn().Err(err).Msg("console: replay failed")
		}
		status := http.StatusBadGateway
		if errors.Is(err, dlq.ErrReplayDuplicate) || errors.Is(err, dlq.ErrReplayedAlready) ||
			errors.Is(err, dlq.ErrReplayUnderWay) || errors.Is(err, dlq.ErrReplayMaybePublished) {
			status = http.StatusConflict
		}
		c.fail(w, r, status, "The replay failed: "+err.Error())
		return
	}
	audit(log).Msg("console: dead letter replayed")
	c.auth.signNotice(v, replayedFields...)
	http.Redirect(w, r, "/dead-letters?"+v.Encode(), http.StatusSeeOther)
}

// audit starts an audit line: what an operator did (a login, a logout, a
// replay, a reveal of personal data). It is written whatever the log level
// (ISEED_LOG_LEVEL=warn would drop an Info line), unless logging is
// disabled, with no level and "audit":"console".
func audit(log zerolog.Logger) *zerolog.Event {
	return log.Log().Str("audit", "console")
}

func (c *Console) reveal(w http.ResponseWriter, r *http.Request) {
	d, ok := c.letter(w, r)
	if !ok {
		return
	}
	audit(c.log).Uint64("seq", d.DL.Seq).Str("tenant", d.DL.Tenant).Str("submission", d.DL.SubmissionID).
		Str("remote", c.remote(r)).Msg("console: dead-letter payload revealed")
	d.Revealed, d.RevealedSize = reveal(d.payload)
	if r := d.rec; r != nil && r.State == record.StateFailed && r.Reason == d.DL.Reason && r.Generation == d.DL.Generation {
		d.Upstream = r.UpstreamMessage // that failure's, as iseed dlq show --reveal shows it
	}
	c.render(w, r, http.StatusOK, "deadletter", "Dead letter "+r.PathValue("seq"), d)
}

// reveal shows a payload as iseed dlq show --reveal does (dlq.Mask): its
// values as they are, but an inline file as its name, type and size, never
// its contents; indented as the CLI prints it. It returns the first
// maxShown bytes of it, cut at a character's start, and the size of the
// whole, without building the whole (dlq.Indent).
func reveal(b []byte) (shown string, size int) {
	return dlq.Indent(dlq.Mask(b, true), maxShown) // Mask returns compact JSON
}
