package sim

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
)

func (s *Server) getVisura(w http.ResponseWriter, hash string) {
	svc := s.cat.byHash[hash]
	if svc == nil {
		writeError(w, apiError{http.StatusBadRequest, 200, "wrong hash_visura"})
		return
	}
	writeBody(w, http.StatusOK, svc.detail)
}

func (s *Server) getRequest(w http.ResponseWriter, id string, sh shape) {
	if rec := s.find(w, id, 201, 202, "no request matches this id: "); rec != nil {
		s.answer(w, rec, sh)
	}
}

// find looks a request up by id for an endpoint, answering its own error
// codes for a malformed id (400, or 404 as the missing one under
// ProfilePublished) and an unknown or unseen one (404), and returning nil
// then.
func (s *Server) find(w http.ResponseWriter, id string, badCode, missingCode int, missingMsg string) *record {
	k, ok := parseID(id)
	if !ok && s.profile != ProfilePublished {
		writeError(w, apiError{http.StatusBadRequest, badCode, "Invalid id"})
		return nil
	}
	var rec *record
	if ok {
		rec = s.store.get(k)
	}
	if rec == nil || !rec.seen(s.now()) {
		writeError(w, apiError{http.StatusNotFound, missingCode, missingMsg + id})
		return nil
	}
	return rec
}

// lookup finds a request the API shows by its id: nil when the id is
// unknown or the request unseen (LateCommit).
func (s *Server) lookup(id string) *record {
	if rec := s.store.lookup(id); rec != nil && rec.seen(s.now()) {
		return rec
	}
	return nil
}

// listRequests streams every request, newest first, in the summary shape.
func (s *Server) listRequests(w http.ResponseWriter, sh shape) {
	now := s.now()
	all := seenAt(s.store.snapshot(), now)
	if len(all) == 0 {
		writeError(w, apiError{http.StatusNotFound, 203, "no request related to your account"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	_, _ = bw.WriteString(`{"data":[`)
	for i := len(all) - 1; i >= 0; i-- {
		if i != len(all)-1 {
			_ = bw.WriteByte(',')
		}
		rec := all[i]
		rec.mu.Lock()
		view := rec.viewLocked(s, now, EchoNone)
		rec.mu.Unlock()
		v := view.summary()
		sh.summary(&v)
		_ = enc.Encode(v) // a write error means the client left; keep it short
	}
	_, _ = bw.WriteString(`],"success":true,"message":"","error":null}`)
	_ = bw.Flush()
}

// seenAt returns the requests of all seen at now; all itself when every
// one is.
func seenAt(all []*record, now time.Time) []*record {
	for i, rec := range all {
		if !rec.seen(now) {
			out := append([]*record(nil), all[:i]...)
			for _, rec := range all[i+1:] {
				if rec.seen(now) {
					out = append(out, rec)
				}
			}
			return out
		}
	}
	return all
}

func (s *Server) document(w http.ResponseWriter, id string, sh shape) {
	if id == "" {
		writeError(w, apiError{http.StatusPreconditionRequired, 242, "id required"})
		return
	}
	rec := s.find(w, id, 243, 244, "no requests matches this id: ")
	if rec == nil {
		return
	}
	name, content, pdfSize, ok := s.documentOf(rec)
	if !ok {
		writeError(w, apiError{http.StatusUnprocessableEntity, 247, "document not yet available"})
		return
	}
	d := documentWire{Nome: name, Dimensione: len(content), File: content}
	if s.profile == ProfilePublished {
		// As the published example: dimensione does not count the bytes
		// sent (10206 for 103), and the base64 has no padding.
		d.Dimensione, d.File = pdfSize, base64.RawStdEncoding.EncodeToString(content)
	}
	sh.document(&d)
	writeData(w, d)
}

// Document returns the exact file GET /documento/{id} serves for a request
// (a ZIP holding one PDF); ok is false when the id is unknown or the document
// is not available yet.
func (s *Server) Document(id string) (name string, content []byte, ok bool) {
	rec := s.lookup(id)
	if rec == nil {
		return "", nil, false
	}
	name, content, _, ok = s.documentOf(rec)
	return name, content, ok
}

func (s *Server) documentOf(rec *record) (name string, content []byte, pdfSize int, ok bool) {
	rec.mu.Lock()
	_, cur := rec.life.timeline(s.step).at(s.now())
	rec.mu.Unlock()
	if !cur.hasDocument() {
		return "", nil, 0, false
	}
	stage := ""
	if s.profile == ProfilePublished {
		// Patronato services deliver the DSU receipt first (about a working
		// day), the certificate days later: another document at Visura
		// evasa than at Dati disponibili.
		stage = "Ricevuta DSU"
		if cur == phFulfilled {
			stage = "Attestazione"
		}
	}
	content, pdfSize = buildDocument(rec.id, rec.svc.Name, rec.svc.Hash, stage, rec.created)
	return rec.id + ".zip", content, pdfSize, true
}

// search serves POST /richiesta/{id}: the search flow is not simulated.
func (s *Server) search(w http.ResponseWriter, id string) {
	if _, ok := parseID(id); !ok {
		writeError(w, apiError{http.StatusBadRequest, 219, "Invalid id"})
		return
	}
	rec := s.lookup(id)
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
	if s.lookup(id) == nil {
		writeError(w, apiError{http.StatusNotFound, 228, "no requests matches this id: " + id})
		return
	}
	writeError(w, apiError{http.StatusConflict, 230, "the request does not produce results to choose from, it is processed directly with the POST"})
}
