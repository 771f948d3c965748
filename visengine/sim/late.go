package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// LateCommit makes POST /richiesta create and charge the request, then lose
// the answer (Mode "502", the default, "hang" or "failure", as CommitThenFail does),
// and keeps the request out of sight until Delay after the POST: GET
// /richiesta/{id} answers 404/202, GET /richiesta leaves it out, PUT,
// DELETE and /documento answer 404, and its callbacks wait. It models an API
// whose write reaches the database, or its replica, late: a caller that
// looks for the request too soon, finds nothing and sends it again pays
// twice. Delay is measured on Config.Now, so a test can move a fake clock
// past it.
//
// As JSON: {"mode": "502", "delay": "5m", "rate": 0, "next": 1}.
type LateCommit struct {
	Mode  string        // "502", "hang" or "failure"
	Delay time.Duration // how long the request stays unseen; 0 means DefaultLateDelay; at most MaxLateDelay
	Rate  float64
	Next  int
}

// Bounds of LateCommit.Delay.
const (
	DefaultLateDelay = time.Minute
	MaxLateDelay     = 24 * time.Hour
)

type lateJSON struct {
	Mode  string  `json:"mode,omitempty"`
	Delay string  `json:"delay,omitempty"`
	Rate  float64 `json:"rate,omitempty"`
	Next  int     `json:"next,omitempty"`
}

// MarshalJSON writes Delay as a duration string such as "5m0s".
func (l LateCommit) MarshalJSON() ([]byte, error) {
	j := lateJSON{Mode: l.Mode, Rate: l.Rate, Next: l.Next}
	if l.Delay != 0 {
		j.Delay = l.Delay.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads Delay as a duration string such as "5m".
func (l *LateCommit) UnmarshalJSON(b []byte) error {
	var j lateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = LateCommit{Mode: j.Mode, Rate: j.Rate, Next: j.Next}
	if j.Delay != "" {
		d, err := time.ParseDuration(j.Delay)
		if err != nil {
			return fmt.Errorf("delay: %w", err)
		}
		l.Delay = d
	}
	return nil
}

func (l LateCommit) validate() error {
	if !validMode(l.Mode) {
		return fmt.Errorf("mode %q: want %q, %q or %q", l.Mode, ModeBadGateway, ModeHang, ModeFailure)
	}
	if l.Delay < 0 || l.Delay > MaxLateDelay {
		return errors.New("delay must be between 0 (the default, 1m) and 24h")
	}
	return checkKnob("POST /richiesta", l.Rate, l.Next)
}

// lateKnob is LateCommit compiled.
type lateKnob struct {
	*trigger
	mode  string
	delay time.Duration
}

// compileLate normalizes l (mode "502", delay DefaultLateDelay when unset
// or out of range); nil when it never fires.
func compileLate(l LateCommit) *lateKnob {
	if l.Rate <= 0 && l.Next <= 0 {
		return nil
	}
	k := &lateKnob{trigger: newTrigger(l.Rate, l.Next), mode: ModeBadGateway, delay: l.Delay}
	if l.Mode != "" {
		k.mode = l.Mode
	}
	if k.delay <= 0 || k.delay > MaxLateDelay {
		k.delay = DefaultLateDelay
	}
	return k
}

func (k *lateKnob) snapshot() LateCommit {
	if k == nil {
		return LateCommit{}
	}
	return LateCommit{Mode: k.mode, Delay: k.delay, Rate: k.rate, Next: k.remaining()}
}

// lateCommit draws the late-commit knob for a POST about to create a
// request: nil when it does not fire.
func (s *Server) lateCommit() *lateKnob {
	f := s.faults.Load()
	if f == nil || f.late == nil || !f.late.fire(s.chance) {
		return nil
	}
	return f.late
}

// loseAnswer answers a POST that committed as if the answer were lost: 502,
// nothing until the client gives up (ModeHang) and then 502, or a 200 that
// says failure without a code (ModeFailure).
func (s *Server) loseAnswer(w http.ResponseWriter, r *http.Request, mode string) {
	switch mode {
	case ModeHang:
		s.hang(r.Context())
	case ModeFailure:
		writeBody(w, http.StatusOK, []byte(`{"success":false,"message":"Errore interno (simulated, after commit)","error":null,"data":null}`))
		return
	}
	writeError(w, apiError{http.StatusBadGateway, http.StatusBadGateway, "Bad Gateway (simulated, after commit)"})
}
