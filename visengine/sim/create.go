package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// createBody is POST /richiesta's body, read leniently.
type createBody struct {
	HashVisura   any             `json:"hash_visura"`
	JSONVisura   json.RawMessage `json:"json_visura"`
	State        any             `json:"state"`
	Test         any             `json:"test"`
	CallbackData json.RawMessage `json:"callback_data"`
	EmailTarget  any             `json:"email_target"`
	Opzioni      json.RawMessage `json:"opzioni"`
}

// create serves POST /richiesta; see the package documentation for the order
// of its checks and what test and state 0 do.
func (s *Server) create(w http.ResponseWriter, r *http.Request, sh shape) {
	var b createBody
	if e := decodeBody(w, r, &b); e != nil {
		writeError(w, *e)
		return
	}
	rec, cost, e := s.prepare(&b)
	if e != nil {
		writeError(w, *e)
		return
	}
	submit, test := b.State == nil || isNonZero(b.State), looseBool(b.Test)
	if (submit || test) && !rec.svc.rule.eval(presentIn(rec.values)) {
		writeError(w, apiError{http.StatusPreconditionFailed, 250, "Insufficient data to validate the request: "})
		return
	}
	now := s.now()
	if test {
		s.answerTest(w, rec, cost, submit, now, sh)
		return
	}
	if submit {
		if balance, ok := s.charge(cost, now, func() string { return s.assignID(rec, now) }); !ok {
			writeError(w, insufficientCredit(balance))
			return
		}
		rec.life.submitted = now
	}
	late := s.lateCommit()
	if late != nil {
		rec.visible = now.Add(late.delay)
	}
	s.insert(rec, now)
	switch {
	case late != nil:
		s.loseAnswer(w, r, late.mode)
	case !s.commitThenFail(w, r):
		s.answer(w, rec, sh)
	}
}

// prepare runs the checks that need no wallet and builds the (unsaved) request
// with its total price in cents.
func (s *Server) prepare(b *createBody) (*record, int64, *apiError) {
	hash, _ := looseString(b.HashVisura)
	if hash == "" {
		return nil, 0, &apiError{http.StatusPreconditionRequired, 204, "hash_visura required"}
	}
	svc := s.cat.byHash[hash]
	if svc == nil {
		return nil, 0, &apiError{http.StatusBadRequest, 200, "wrong hash_visura"}
	}
	f := s.faults.Load()
	rec := &record{svc: svc, files: s.echo == EchoFiles, reformat: f != nil && f.src.ReformatEcho}
	if email, ok := looseString(b.EmailTarget); ok && email != "" {
		if !validEmail(email) {
			return nil, 0, &apiError{http.StatusBadRequest, 209, "email is considered invalid!"}
		}
		rec.email = &email
	}
	var e *apiError
	if rec.callback, rec.target, e = parseCallback(b.CallbackData); e != nil {
		return nil, 0, e
	}
	vals, ok := parseValues(b.JSONVisura)
	if !ok {
		return nil, 0, &apiError{http.StatusBadRequest, codeBadBody, "json_visura must be an object"}
	}
	rec.setValues(vals)
	rec.options = chosenOptions(svc, b.Opzioni)
	cost := svc.price
	for _, o := range rec.options {
		cost += cents(o.Price)
	}
	return rec, cost, nil
}

// chosenOptions returns the service's options set to true in opzioni, in
// catalog order; unknown names and anything but an object are ignored.
func chosenOptions(svc *service, raw json.RawMessage) []Option {
	var chosen map[string]any
	if len(svc.Options) == 0 || json.Unmarshal(bytes.TrimSpace(raw), &chosen) != nil {
		return nil
	}
	var out []Option
	for _, o := range svc.Options {
		if looseBool(chosen[o.Name]) {
			out = append(out, o)
		}
	}
	return out
}

func isNonZero(v any) bool {
	s, ok := looseString(v)
	return ok && s != "" && s != "0"
}

func insufficientCredit(balance int64) apiError {
	return apiError{http.StatusPaymentRequired, 211, "Insufficient Credit in Wallet: " + formatEuro(balance)}
}

// answerTest answers a "test": true call: the request as it would be
// created, with an empty _id, after the wallet check; nothing is stored.
func (s *Server) answerTest(w http.ResponseWriter, rec *record, cost int64, submit bool, now time.Time, sh shape) {
	if balance := s.ledger.funds(); balance < cost {
		writeError(w, insufficientCredit(balance))
		return
	}
	rec.created = now
	if submit {
		rec.life.submitted = now
	}
	v := rec.viewLocked(s, now, sh.echo(s.echo)) // rec is not shared
	sh.request(&v)
	writeData(w, v)
}

// assignID gives rec its id and creation order, and returns the id. A
// submission gets them as it is charged, so that its charge names it; a
// refused one consumes no creation order (CancelRate draws on it).
func (s *Server) assignID(rec *record, now time.Time) string {
	rec.key, rec.id, rec.seq = s.ids.next(now)
	return rec.id
}

// insert gives rec its id (unless charging gave it one) and fate, stores it
// and schedules its callbacks.
func (s *Server) insert(rec *record, now time.Time) {
	if rec.id == "" {
		s.assignID(rec, now)
	}
	rec.created, rec.updated = now, now
	rec.life.doomed, rec.fate = s.doomed(rec.seq)
	s.pace(rec)
	s.store.add(rec)
	s.counters[cCreated].Add(1)
	if !rec.life.submitted.IsZero() {
		s.scheduleLifecycle(rec)
	}
}

// answer writes the request as it is now, shaped by sh.
func (s *Server) answer(w http.ResponseWriter, rec *record, sh shape) {
	rec.mu.Lock()
	v := rec.viewLocked(s, s.now(), sh.echo(s.echo))
	rec.mu.Unlock()
	sh.request(&v)
	writeData(w, v)
}
