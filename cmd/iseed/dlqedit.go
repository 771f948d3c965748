package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
)

// edited replays one dead letter with a corrected payload: from path ("-"
// for standard input), or edited in $EDITOR when path is "".
func (r *replayer) edited(ctx context.Context, seq uint64, path string) error {
	l, err := r.q.Get(ctx, seq)
	if err != nil {
		return r.failedOne(ctx, seq, err)
	}
	d := l.DeadLetter
	if err := r.q.CheckOrigin(l); err != nil {
		return fmt.Errorf("refused %s", refusal(err, d))
	}
	if _, _, err := r.editable(ctx, l); err != nil {
		return err
	}
	var payload []byte
	if path == "" {
		payload, err = editInEditor(ctx, r.e, l.Payload)
	} else {
		payload, err = readInput(r.e, path)
	}
	if err != nil {
		return err
	}
	// Asked again: the editor may have been open for minutes, and the
	// submission reopened meanwhile (another of its letters replayed) or
	// given its request. Decided on the record read before, the pipeline
	// took the correction for a conflict and told the tenant so.
	rec, closed, err := r.editable(ctx, l)
	if err != nil {
		return err
	}
	// What the correction replaces is the letter's payload, unless that is
	// another submission than the one recorded under its id (the plain
	// replay of such a letter is refused, dlq.CheckPlainReplay, and sends
	// the operator here): then the recorded one is, and the letter's own
	// payload, unchanged, is a correction.
	own := rec == nil || consumer.LetterFingerprint(l.Payload) == "" || consumer.LetterFingerprint(l.Payload) == rec.Fingerprint
	if own && sameJSON(payload, l.Payload) {
		return fmt.Errorf("the payload of dead letter %s is unchanged: nothing replayed", letterName(d))
	}
	if r.maxBytes > 0 && len(payload) > r.maxBytes {
		return fmt.Errorf("the corrected payload is %d bytes, more than the %d a submission may have: the pipeline would reject it again; "+
			"nothing replayed (send large files as nats-os:// references to the tenant's files bucket)", len(payload), r.maxBytes)
	}
	sub, err := consumer.DecodeSubmission(payload)
	if err != nil {
		return fmt.Errorf("the corrected payload is not a submission (%v): nothing replayed", err)
	}
	if own && sameSubmission(l.Payload, sub) {
		return fmt.Errorf("the correction of dead letter %s changes only what is not part of the submission (metadata, layout): "+
			"replayed, it is the same submission, whose record keeps its metadata; nothing replayed "+
			"(correct its service, fields, options or email_target, or replay it unchanged)", letterName(d))
	}
	as, taken := "", false
	if sub.ID != d.SubmissionID {
		as = fmt.Sprintf(" as submission %s", sub.ID)
		_, _, err := r.records.Get(ctx, d.Tenant, sub.ID)
		if err != nil && !errors.Is(err, record.ErrNotFound) {
			return err
		}
		taken = err == nil
	}
	if err := dlq.CheckCorrection(d, sub.ID, taken, closed); err != nil {
		return fmt.Errorf("refused %s", refusal(err, d))
	}
	if r.dry {
		_, err := fmt.Fprintf(r.e.stdout, "would replay dead letter %s, corrected%s, to %s\n", letterName(d), as, d.OriginalSubject)
		return err
	}
	if err := r.q.ReplayAs(ctx, seq, dlq.ReplayOptions{Payload: payload, TenantAsked: r.tenantAsked}); errors.Is(err, dlq.ErrNotRemoved) {
		r.kept("", d, ", corrected"+as+",", err) // published: only the letter is left
		return silent(exitFailed)
	} else if err != nil {
		return r.failedOne(ctx, seq, err)
	}
	_, err = fmt.Fprintf(r.e.stdout, "replayed dead letter %s, corrected%s, to %s\n", letterName(d), as, d.OriginalSubject)
	return err
}

// editable refuses to correct dead letter l when its submission's record
// says a correction may not be made (dlq.CheckEdit) or would reopen
// nothing (dlq.Queue.CheckReopen, judged by the letter's own payload);
// rec and closed are standing's.
func (r *replayer) editable(ctx context.Context, l *dlq.Letter) (rec *record.Record, closed bool, err error) {
	d := l.DeadLetter
	rec, inDoubt, closed, err := r.standing(ctx, d)
	if err != nil {
		return nil, false, err
	}
	if err := dlq.CheckEdit(d, inDoubt); err != nil {
		return nil, false, fmt.Errorf("refused %s", refusal(err, d))
	}
	// A correction reopens no more than the letter unchanged would: the
	// pipeline takes it for a conflict instead.
	refused, err := r.reopens(ctx, d, consumer.LetterFingerprint(l.Payload), rec)
	if err != nil {
		return nil, false, err
	}
	if refused != nil {
		return nil, false, fmt.Errorf("refused %s", refusal(refused, d))
	}
	return rec, closed, nil
}

// standing reads the record of d's submission (nil when there is none):
// inDoubt when it holds a POST that may have created its upstream request
// (the pipeline reconciles it with the recorded payload), closed when it
// takes no correction at all (consumer's correctable: only a failed or
// rejected submission with no request and no POST in doubt does). The
// pipeline refuses another payload under the id of a closed one as a
// conflict.
func (r *replayer) standing(ctx context.Context, d dlq.DeadLetter) (rec *record.Record, inDoubt, closed bool, err error) {
	if d.SubmissionID == "" {
		return nil, false, false, nil
	}
	rec, _, err = r.records.Get(ctx, d.Tenant, d.SubmissionID)
	if errors.Is(err, record.ErrNotFound) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, err
	}
	inDoubt = rec.PostInDoubt() && rec.RequestID == ""
	open := (rec.State == record.StateFailed || rec.State == record.StateRejected) && rec.RequestID == "" && !rec.PostInDoubt()
	return rec, inDoubt, !open, nil
}

// sameSubmission reports whether payload is the submission sub is, by
// id and fingerprint: what the pipeline tells submissions apart by.
func sameSubmission(payload []byte, sub *consumer.Submission) bool {
	was, err := consumer.DecodeSubmission(payload)
	return err == nil && was.ID == sub.ID && was.Fingerprint() == sub.Fingerprint()
}

// sameJSON reports whether a and b differ at most in white space.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// editInEditor writes payload (indented) to a file in a private temporary
// directory, runs $VISUAL or $EDITOR (else vi) on it and reads it back.
// The file holds personal data: it is readable by the user only, and the
// directory is removed after, with the editor's copies of it.
func editInEditor(ctx context.Context, e *env, payload []byte) ([]byte, error) {
	// A directory of its own (the operator's only), removed whole: an
	// editor keeps copies of the payload beside the file it edits (a swap
	// file, a backup), which would outlive the edit in a shared directory.
	dir, err := os.MkdirTemp("", "iseed-dead-letter-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	f, err := os.OpenFile(filepath.Join(dir, "dead-letter.json"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	// A hang-up (the operator's SSH session dropped) or a quit would end
	// the process before the removal above: while the file exists they
	// cancel the edit instead, and nothing is replayed.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGQUIT)
	defer stop()
	var pretty bytes.Buffer
	if json.Indent(&pretty, payload, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(payload)
	}
	_, err = f.Write(append(pretty.Bytes(), '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	argv := strings.Fields(editorCommand())
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], f.Name())...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("editor %s: %w: nothing replayed; set VISUAL or EDITOR to an editor you have, "+
				"or give the correction with --payload FILE", argv[0], err)
		}
		return nil, fmt.Errorf("editor %s: %w: nothing replayed", argv[0], err)
	}
	return os.ReadFile(f.Name())
}

// editorCommand is the user's editor: $VISUAL, $EDITOR, else vi.
func editorCommand() string {
	for _, v := range []string{"VISUAL", "EDITOR"} {
		if s := strings.TrimSpace(os.Getenv(v)); s != "" {
			return s
		}
	}
	return "vi"
}
