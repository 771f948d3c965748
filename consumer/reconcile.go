package consumer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// settleAt is when reconciling can trust that an unanswered POST created
// no request: some time after the call gave up (this delivery's, or one
// recorded by an earlier delivery), or after the lease a crashed worker's
// call was bounded by.
func (p *Pipeline) settleAt(j *job) time.Time {
	if !j.settle.IsZero() {
		return j.settle
	}
	return p.settleOf(j.rec.Pending)
}

// settleOf is when an attempt recorded by an earlier delivery settles.
func (p *Pipeline) settleOf(pa *record.Attempt) time.Time {
	switch {
	case pa == nil:
		return time.Time{}
	case !pa.Settle.IsZero():
		return pa.Settle
	default: // its worker crashed: its call was bounded by the lease
		return pa.Until.Add(p.cfg.ReconcileSettle)
	}
}

// awaitSettle waits, in process or by ending the delivery, until a
// reconciliation can be trusted.
func (p *Pipeline) awaitSettle(ctx context.Context, j *job, deadline time.Time) (Outcome, bool) {
	wait := p.settleAt(j).Sub(p.cfg.Now())
	if wait <= 0 {
		return Outcome{}, false
	}
	if p.cfg.Now().Add(wait).After(deadline) {
		p.release(ctx, j)
		return Outcome{Kind: Retry, Delay: wait, Record: j.rec, Err: errors.New("waiting before reconciling an unanswered POST")}, true
	}
	if !p.sleepInProgress(ctx, j, wait) {
		p.release(ctx, j)
		return Outcome{Kind: Interrupted, Err: ctx.Err(), Record: j.rec}, true
	}
	return Outcome{}, false
}

// reconcile looks upstream for a request an earlier, unanswered POST of
// this submission may have created. It returns the one match, nil when
// there is none (submitting is safe), or errAmbiguous when there are
// several or one cannot be told apart.
func (p *Pipeline) reconcile(ctx context.Context, j *job) (*visengine.Richiesta, error) {
	if err := p.d.Limiter.Wait(ctx); err != nil {
		return nil, err
	}
	list, err := p.d.Upstream.Richieste(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile: list requests: %w", err)
	}
	since := j.rec.Created
	if j.rec.Pending != nil && j.rec.Pending.Started.Before(since) {
		since = j.rec.Pending.Started
	}
	since = since.Add(-p.cfg.ReconcileSkew)
	// No attempt of this submission can have created a request after its
	// last attempt settled: later ones belong to others.
	until := p.settleAt(j).Add(p.cfg.ReconcileSkew)
	var matches []*visengine.Richiesta
	for _, s := range list {
		created := s.TimestampCreation.Time()
		if s.HashVisura != j.prep.HashVisura || created.Before(since) || created.After(until) {
			continue
		}
		_ = j.msg.InProgress() // each candidate costs a call: keep the message
		m, err := p.candidate(ctx, j, s.ID)
		if err != nil {
			return nil, err
		}
		if m != nil {
			matches = append(matches, m)
		}
	}
	switch len(matches) {
	case 0:
		return nil, nil
	case 1:
		return matches[0], nil
	default:
		return nil, fmt.Errorf("%w: %d upstream requests match", errAmbiguous, len(matches))
	}
}

// candidate checks one upstream request created since the claim.
func (p *Pipeline) candidate(ctx context.Context, j *job, id string) (*visengine.Richiesta, error) {
	owner, err := p.requestOwner(ctx, id)
	if err != nil {
		return nil, err
	}
	if owner != "" && owner != j.key() {
		return nil, nil // another submission's request
	}
	if err := p.d.Limiter.Wait(ctx); err != nil {
		return nil, err
	}
	r, err := p.d.Upstream.Richiesta(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read request: %w", err)
	}
	if owner == j.key() {
		return r, nil
	}
	if !p.sameCallback(j, r) {
		return nil, nil // its callback names another submission
	}
	same, known := sameInput(r, j.prep.JSONVisura, j.svc)
	if !known {
		return nil, fmt.Errorf("%w: request %s carries no input to compare", errAmbiguous, id)
	}
	if !same {
		return nil, nil
	}
	return r, nil
}

// sameInput compares the input an upstream request records (json_ricerca of
// its first search) with ours, leaving out file fields, which the upstream
// may store elsewhere. known is false when the request records no input.
func sameInput(r *visengine.Richiesta, ours map[string]string, svc *schema.Service) (same, known bool) {
	if len(r.Ricerche) == 0 || r.Ricerche[0].Input == nil {
		return false, false
	}
	theirs, cut := r.Ricerche[0].Input, r.Ricerche[0].Cut
	for k, v := range ours {
		if f, ok := svc.Field(k); ok && f.Type == "file" {
			continue
		}
		tv, ok := theirs[k]
		if !ok || cut[k] {
			return false, false // not recorded, or not kept whole: cannot tell
		}
		if !sameValue(tv, v) {
			return false, true
		}
	}
	return true, true
}

// sameCallback reports whether a request's callback_data could be this
// submission's: with callbacks on, the URL names the submission exactly.
func (p *Pipeline) sameCallback(j *job, r *visengine.Richiesta) bool {
	if p.cfg.Callback == nil || r.CallbackData.CallbackData == nil || r.CallbackData.URL == "" {
		return true // nothing to tell by
	}
	ours := p.cfg.Callback(j.tenant, j.sub.ID)
	return ours == nil || ours.URL == r.CallbackData.URL
}

// sameValue compares two field values as the upstream may have normalised
// them: case-insensitively, with runs of white space folded.
func sameValue(a, b string) bool {
	return strings.EqualFold(strings.Join(strings.Fields(a), " "), strings.Join(strings.Fields(b), " "))
}

// requestOwner returns the submission key that owns an upstream request id,
// or "" when no submission recorded it.
func (p *Pipeline) requestOwner(ctx context.Context, id string) (string, error) {
	e, err := p.d.Resources.Requests.Get(ctx, requestKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reconcile: request index: %w", err)
	}
	return string(e.Value()), nil
}

// requestKey makes an upstream id safe as a KV key.
func requestKey(id string) string {
	var b strings.Builder
	for _, c := range id {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			fmt.Fprintf(&b, "=%02x", c)
		}
	}
	return b.String()
}
