package sim

import (
	"encoding/json"
	"net/http"
)

// serveAdmin serves the simulator's own knobs under /_sim/ (no token; plain
// JSON): see the package documentation.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.Method + " " + r.URL.Path {
	case "GET /_sim/counters":
		writeJSON(w, http.StatusOK, s.Counters())
	case "POST /_sim/reset":
		s.ResetCounters()
		writeJSON(w, http.StatusOK, s.Counters())
	case "GET /_sim/faults":
		writeJSON(w, http.StatusOK, s.Faults())
	case "PUT /_sim/faults":
		s.putFaults(w, r)
	case "DELETE /_sim/faults":
		s.SetFaults(Faults{})
		writeJSON(w, http.StatusOK, s.Faults())
	case "GET /_sim/wallet":
		writeJSON(w, http.StatusOK, walletBody{Euro: s.Wallet()})
	case "PUT /_sim/wallet":
		s.putWallet(w, r)
	default:
		writeJSON(w, http.StatusNotFound, adminError{Error: "unknown admin call " + r.Method + " " + r.URL.Path})
	}
}

type walletBody struct {
	Euro float64 `json:"euro"`
}

type adminError struct {
	Error string `json:"error"`
}

func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if e := decodeBody(w, r, &f); e != nil {
		writeJSON(w, http.StatusBadRequest, adminError{Error: e.msg})
		return
	}
	if err := f.Validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, adminError{Error: err.Error()})
		return
	}
	s.SetFaults(f)
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) putWallet(w http.ResponseWriter, r *http.Request) {
	var b *walletBody
	if e := decodeBody(w, r, &b); e != nil || b == nil || b.Euro < 0 {
		writeJSON(w, http.StatusBadRequest, adminError{Error: `want {"euro": <non-negative amount>}`})
		return
	}
	s.SetWallet(b.Euro)
	writeJSON(w, http.StatusOK, walletBody{Euro: s.Wallet()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode"}`)
	}
	writeBody(w, status, b)
}
