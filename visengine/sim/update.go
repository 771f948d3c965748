package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// update serves PUT /richiesta/{id}: edit an open draft and, with "state": 1,
// validate, charge and submit it. A failed call changes nothing.
func (s *Server) update(w http.ResponseWriter, r *http.Request, id string, sh shape) {
	rec, e := s.itemFor(id)
	if e == nil {
		var body map[string]json.RawMessage
		e = decodeBody(w, r, &body)
		if e == nil {
			e = s.applyUpdate(rec, body, s.now())
		}
	}
	if e != nil {
		writeError(w, *e)
		return
	}
	s.answer(w, rec, sh)
}

// itemFor finds the request of PUT and DELETE: 428/226 without an id,
// 404/228 when no request has it (malformed ids included).
func (s *Server) itemFor(id string) (*record, *apiError) {
	if id == "" {
		return nil, &apiError{http.StatusPreconditionRequired, 226, "id required"}
	}
	rec := s.lookup(id)
	if rec == nil {
		return nil, &apiError{http.StatusNotFound, 228, "no requests matches this id: " + id}
	}
	return rec, nil
}

func (s *Server) applyUpdate(rec *record, body map[string]json.RawMessage, now time.Time) *apiError {
	rec.mu.Lock()
	if !rec.life.submitted.IsZero() || !rec.life.cancelled.IsZero() {
		rec.mu.Unlock()
		return &apiError{http.StatusBadRequest, 239, "the request has already been closed"}
	}
	saved := rec.snapshotEdits()
	e := rec.edit(body)
	submit := false
	if e == nil {
		var state any
		_ = json.Unmarshal(body["state"], &state) // absent or malformed: stays a draft
		submit = isNonZero(state)
	}
	if e == nil && submit {
		e = s.submitDraft(rec, now)
	}
	if e != nil {
		rec.restoreEdits(saved)
	} else {
		rec.updated = now
	}
	rec.mu.Unlock()
	if e == nil && submit {
		s.scheduleLifecycle(rec)
	}
	return e
}

func inputError(what string) *apiError {
	return &apiError{http.StatusPreconditionFailed, 229, "error in the input data: " + what}
}

// edit applies email_target, json_visura and "json_visura.$N" keys; the
// caller holds rec.mu.
func (rec *record) edit(body map[string]json.RawMessage) *apiError {
	if raw, ok := body["email_target"]; ok {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return inputError("email_target")
		}
		email, _ := looseString(v)
		if email != "" && !validEmail(email) {
			return inputError("email_target")
		}
		rec.email = nil
		if email != "" {
			rec.email = &email
		}
	}
	vals, ok := parseValues(body["json_visura"])
	if !ok {
		return inputError("json_visura")
	}
	if vals == nil {
		vals = map[int]string{}
	}
	for k, raw := range body {
		name, found := strings.CutPrefix(k, "json_visura.")
		i, isField := fieldIndex(name)
		if !found || !isField {
			continue
		}
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return inputError(k)
		}
		vals[i], _ = looseString(v)
	}
	rec.setValues(vals)
	return nil
}

// submitDraft validates and charges a draft and marks it submitted; the caller holds rec.mu.
func (s *Server) submitDraft(rec *record, now time.Time) *apiError {
	if !rec.svc.rule.eval(presentIn(rec.values)) {
		return inputError("")
	}
	cost := rec.svc.price
	for _, o := range rec.options {
		cost += cents(o.Price)
	}
	if balance, ok := s.charge(cost, now, func() string { return rec.id }); !ok {
		e := insufficientCredit(balance)
		return &e
	}
	rec.life.submitted = now
	s.pace(rec)
	return nil
}

// edits are the fields of a draft that PUT may change.
type edits struct {
	values  []fieldValue
	ricerca string
	mappato json.RawMessage
	email   *string
}

func (rec *record) snapshotEdits() edits {
	return edits{values: append([]fieldValue(nil), rec.values...), ricerca: rec.ricerca, mappato: rec.mappato, email: rec.email}
}

func (rec *record) restoreEdits(e edits) {
	rec.values, rec.ricerca, rec.mappato, rec.email = e.values, e.ricerca, e.mappato, e.email
}

// cancel serves DELETE /richiesta/{id} with an optional {"motivo": "…"}: an
// open draft or a request not yet final becomes Annullata at once.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, id string, sh shape) {
	rec, e := s.itemFor(id)
	var body struct {
		Motivo any `json:"motivo"`
	}
	if e == nil {
		e = decodeBody(w, r, &body)
	}
	if e != nil {
		writeError(w, *e)
		return
	}
	motivo, _ := looseString(body.Motivo)
	if strings.TrimSpace(motivo) == "" {
		motivo = "Annullata dal cliente"
	}
	now := s.now()
	rec.mu.Lock()
	if _, cur := rec.life.timeline(s.step).at(now); cur.final() {
		rec.mu.Unlock()
		writeError(w, apiError{http.StatusBadRequest, 239, "the request has already been closed"})
		return
	}
	rec.life.cancelled, rec.motivo, rec.updated = now, motivo, now
	rec.mu.Unlock()
	s.scheduleCancel(rec, now)
	s.answer(w, rec, sh)
}
