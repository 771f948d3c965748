package sim

import (
	"bufio"
	"encoding/json"
	"net/http"
)

func (s *Server) getVisura(w http.ResponseWriter, hash string) {
	svc := s.cat.byHash[hash]
	if svc == nil {
		writeError(w, apiError{http.StatusBadRequest, 200, "wrong hash_visura"})
		return
	}
	writeBody(w, http.StatusOK, svc.detail)
}

func (s *Server) getRequest(w http.ResponseWriter, id string) {
	if rec := s.find(w, id, 201, 202, "no request matches this id: "); rec != nil {
		s.answer(w, rec)
	}
}

// find looks a request up by id for an endpoint, answering its own error
// codes for a malformed id (400) and an unknown one (404) and returning nil
// then.
func (s *Server) find(w http.ResponseWriter, id string, badCode, missingCode int, missingMsg string) *record {
	k, ok := parseID(id)
	if !ok {
		writeError(w, apiError{http.StatusBadRequest, badCode, "Invalid id"})
		return nil
	}
	rec := s.store.get(k)
	if rec == nil {
		writeError(w, apiError{http.StatusNotFound, missingCode, missingMsg + id})
	}
	return rec
}

// listRequests streams every request, newest first, in the summary shape.
func (s *Server) listRequests(w http.ResponseWriter) {
	all := s.store.snapshot()
	if len(all) == 0 {
		writeError(w, apiError{http.StatusNotFound, 203, "no request related to your account"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	now := s.now()
	_, _ = bw.WriteString(`{"data":[`)
	for i := len(all) - 1; i >= 0; i-- {
		if i != len(all)-1 {
			_ = bw.WriteByte(',')
		}
		rec := all[i]
		rec.mu.Lock()
		v := rec.viewLocked(s, now)
		rec.mu.Unlock()
		_ = enc.Encode(v.summary()) // a write error means the client left; keep it short
	}
	_, _ = bw.WriteString(`],"success":true,"message":"","error":null}`)
	_ = bw.Flush()
}

func (s *Server) document(w http.ResponseWriter, id string) {
	if id == "" {
		writeError(w, apiError{http.StatusPreconditionRequired, 242, "id required"})
		return
	}
	rec := s.find(w, id, 243, 244, "no requests matches this id: ")
	if rec == nil {
		return
	}
	name, content, ok := s.documentOf(rec)
	if !ok {
		writeError(w, apiError{http.StatusUnprocessableEntity, 247, "document not yet available"})
		return
	}
	writeData(w, documentWire{Nome: name, Dimensione: len(content), File: content})
}

// Document returns the exact file GET /documento/{id} serves for a request
// (a ZIP holding one PDF); ok is false when the id is unknown or the document
// is not available yet.
func (s *Server) Document(id string) (name string, content []byte, ok bool) {
	rec := s.store.lookup(id)
	if rec == nil {
		return "", nil, false
	}
	return s.documentOf(rec)
}

func (s *Server) documentOf(rec *record) (string, []byte, bool) {
	rec.mu.Lock()
	_, cur := rec.life.timeline(s.step).at(s.now())
	rec.mu.Unlock()
	if !cur.hasDocument() {
		return "", nil, false
	}
	return rec.id + ".zip", buildDocument(rec.id, rec.svc.Name, rec.svc.Hash, rec.created), true
}

// search serves POST /richiesta/{id}: the search flow is not simulated.
func (s *Server) search(w http.ResponseWriter, id string) {
	if _, ok := parseID(id); !ok {
		writeError(w, apiError{http.StatusBadRequest, 219, "Invalid id"})
		return
	}
	rec := s.store.lookup(id)
	if rec == nil {
		writeError(w, apiError{http.StatusNotFound, 228, "no requests matches this id: " + id})
		return
	}
	rec.mu.Lock()
	draft := rec.life.submitted.IsZero()
	rec.mu.Unlock()
	if draft {
		writeError(w, apiError{http.StatusNotFound, 221, "the request is in state 0, not yet finalized"})
		return
	}
	writeError(w, apiError{http.StatusConflict, 222, "this request does not allow the addition of a search"})
}

// choose serves PUT /richiesta/{id}/ricerche: the search flow is not simulated.
func (s *Server) choose(w http.ResponseWriter, id string) {
	if s.store.lookup(id) == nil {
		writeError(w, apiError{http.StatusNotFound, 228, "no requests matches this id: " + id})
		return
	}
	writeError(w, apiError{http.StatusConflict, 230, "the request does not produce results to choose from, it is processed directly with the POST"})
}
