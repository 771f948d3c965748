package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Faults are the simulator's fault knobs; the zero value injects nothing.
// Endpoint keys are the Counters keys ("POST /richiesta", "GET /richiesta/{id}",
// …) or "*" for every endpoint without a key of its own. Each knob fires for
// the next Next calls, then for a Rate share of calls (drawn deterministically
// from Config.Seed). Injected errors answer before the handler runs, so they
// have no side effect; CommitThenFail and LateCommit are the exceptions by
// design. The shape knobs (Preamble, ObjectLists, PHPScalars, Oversize)
// change how an answer is written, not what it says. ReformatEcho is a
// switch: every request created while it is on is stored reformatted.
//
// As JSON (GET/PUT /_sim/faults):
//
//	{"latency": "50ms",
//	 "errors": {"GET /richiesta/{id}": {"rate": 0.1, "next": 2, "status": 503}},
//	 "throttle": {"*": {"rate": 0.05, "retry_after": 2}},
//	 "commit_then_fail": {"mode": "hang", "next": 1},
//	 "late_commit": {"mode": "502", "delay": "5m", "next": 1},
//	 "preamble": {"*": {"kind": "notice", "rate": 0.2}},
//	 "object_lists": {"GET /richiesta/{id}": {"next": 3}},
//	 "php_scalars": {"*": {"rate": 1}},
//	 "oversize": {"POST /richiesta": {"pad": 9000000, "files": true, "next": 1}},
//	 "reformat_echo": true}
type Faults struct {
	Latency        time.Duration            // added before every API call
	Errors         map[string]ErrorFault    // injected 5xx or refusals (400, 409, 412, 428) per endpoint key
	Throttle       map[string]ThrottleFault // injected 429 per endpoint key
	CommitThenFail CommitThenFail           // POST /richiesta: create and charge, then fail
	LateCommit     LateCommit               // POST /richiesta: create and charge, fail, and stay unseen for a while
	Preamble       map[string]PreambleFault // a BOM or a PHP notice before the JSON, per endpoint key
	ObjectLists    map[string]Knob          // ricerche, allegati, opzioni as objects keyed "0", "1", …
	PHPScalars     map[string]Knob          // prices as "11,70", dimensione as a string, stato_richiesta oddly spelt
	Oversize       map[string]OversizeFault // answers padded, or echoing inline files whole
	// ReformatEcho stores text values as a backend might, and echoes them
	// so: white space removed, upper-cased, dates written DD/MM/YYYY.
	// Identifiers (tax codes, VAT numbers) and files keep their letters and
	// digits. Nobody has published whether the real API does this; a
	// client must not take its own request for another's when it does.
	ReformatEcho bool
}

// ErrorFault injects a 5xx answer, or a refusal (400, 409, 412 or 428, as
// the API answers input it will not take: nothing is created or charged;
// 412 carries the documented code 250).
type ErrorFault struct {
	Rate   float64 `json:"rate,omitempty"`   // share of calls, 0..1
	Next   int     `json:"next,omitempty"`   // fail the next N calls
	Status int     `json:"status,omitempty"` // 500..599, or 400, 409, 412, 428; 0 means 503
}

// refusal reports whether status is one of the refusals ErrorFault injects.
func refusal(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusConflict ||
		status == http.StatusPreconditionFailed || status == http.StatusPreconditionRequired
}

// ThrottleFault injects a 429 with a Retry-After header.
type ThrottleFault struct {
	Rate       float64 `json:"rate,omitempty"`
	Next       int     `json:"next,omitempty"`
	RetryAfter int     `json:"retry_after,omitempty"` // seconds; 0 means 1
}

// CommitThenFail makes POST /richiesta create and charge the request, then
// either answer 502 (Mode "502", the default), hang (Mode "hang") until the
// client gives up or the Server closes, or answer 200 with a failure that
// names no documented code (Mode "failure": {"success": false, "error":
// null, "data": null}, as a generic handler that caught a fault after the
// write answers), so the client cannot know the request exists.
type CommitThenFail struct {
	Mode string  `json:"mode,omitempty"` // "502", "hang" or "failure"
	Rate float64 `json:"rate,omitempty"`
	Next int     `json:"next,omitempty"`
}

// Commit-then-fail modes.
const (
	ModeBadGateway = "502"
	ModeHang       = "hang"
	ModeFailure    = "failure" // 200, "success": false, no error code
)

// validMode reports whether mode is a commit-then-fail mode ("" is the default).
func validMode(mode string) bool {
	return mode == "" || mode == ModeBadGateway || mode == ModeHang || mode == ModeFailure
}

type faultsJSON struct {
	Latency        string                   `json:"latency,omitempty"`
	Errors         map[string]ErrorFault    `json:"errors,omitempty"`
	Throttle       map[string]ThrottleFault `json:"throttle,omitempty"`
	CommitThenFail CommitThenFail           `json:"commit_then_fail"`
	LateCommit     LateCommit               `json:"late_commit"`
	Preamble       map[string]PreambleFault `json:"preamble,omitempty"`
	ObjectLists    map[string]Knob          `json:"object_lists,omitempty"`
	PHPScalars     map[string]Knob          `json:"php_scalars,omitempty"`
	Oversize       map[string]OversizeFault `json:"oversize,omitempty"`
	ReformatEcho   bool                     `json:"reformat_echo,omitempty"`
}

// MarshalJSON writes Latency as a duration string such as "50ms".
func (f Faults) MarshalJSON() ([]byte, error) {
	j := faultsJSON{Errors: f.Errors, Throttle: f.Throttle, CommitThenFail: f.CommitThenFail, LateCommit: f.LateCommit,
		Preamble: f.Preamble, ObjectLists: f.ObjectLists, PHPScalars: f.PHPScalars, Oversize: f.Oversize,
		ReformatEcho: f.ReformatEcho}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads Latency as a duration string such as "50ms".
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = Faults{Errors: j.Errors, Throttle: j.Throttle, CommitThenFail: j.CommitThenFail, LateCommit: j.LateCommit,
		Preamble: j.Preamble, ObjectLists: j.ObjectLists, PHPScalars: j.PHPScalars, Oversize: j.Oversize,
		ReformatEcho: j.ReformatEcho}
	if j.Latency != "" {
		d, err := time.ParseDuration(j.Latency)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		f.Latency = d
	}
	return nil
}

// Validate reports the first knob out of range.
func (f Faults) Validate() error {
	if f.Latency < 0 {
		return errors.New("latency must not be negative")
	}
	for k, e := range f.Errors {
		if err := checkKnob(k, e.Rate, e.Next); err != nil {
			return fmt.Errorf("errors: %w", err)
		}
		if e.Status != 0 && (e.Status < 500 || e.Status > 599) && !refusal(e.Status) {
			return fmt.Errorf("errors[%q]: status %d is neither 5xx nor a refusal (400, 409, 412, 428)", k, e.Status)
		}
	}
	for k, t := range f.Throttle {
		if err := checkKnob(k, t.Rate, t.Next); err != nil {
			return fmt.Errorf("throttle: %w", err)
		}
		if t.RetryAfter < 0 {
			return fmt.Errorf("throttle[%q]: retry_after must not be negative", k)
		}
	}
	c := f.CommitThenFail
	if !validMode(c.Mode) {
		return fmt.Errorf("commit_then_fail: mode %q: want %q, %q or %q", c.Mode, ModeBadGateway, ModeHang, ModeFailure)
	}
	if err := checkKnob("POST /richiesta", c.Rate, c.Next); err != nil {
		return fmt.Errorf("commit_then_fail: %w", err)
	}
	if err := f.LateCommit.validate(); err != nil {
		return fmt.Errorf("late_commit: %w", err)
	}
	return f.validateShapes()
}

func checkKnob(key string, rate float64, next int) error {
	if _, ok := endpointByName(key); !ok && key != "*" {
		return fmt.Errorf("unknown endpoint key %q", key)
	}
	if rate < 0 || rate > 1 {
		return fmt.Errorf("[%q]: rate %v not in 0..1", key, rate)
	}
	if next < 0 {
		return fmt.Errorf("[%q]: next must not be negative", key)
	}
	return nil
}

// trigger decides whether a knob fires on a call.
type trigger struct {
	rate float64
	next atomic.Int64
}

func newTrigger(rate float64, next int) *trigger {
	t := &trigger{rate: min(max(rate, 0), 1)}
	t.next.Store(int64(max(next, 0)))
	return t
}

// fire consumes one of the next N, or else draws against the rate.
func (t *trigger) fire(chance func() float64) bool {
	if t.next.Load() > 0 && t.next.Add(-1) >= 0 {
		return true
	}
	return t.rate > 0 && chance() < t.rate
}

func (t *trigger) remaining() int { return int(max(t.next.Load(), 0)) }

// activeFaults is Faults compiled for the hot path; it is never modified
// after it is published, except for the triggers' counters.
type activeFaults struct {
	latency  time.Duration
	errors   [numEndpoints]*errorKnob
	throttle [numEndpoints]*throttleKnob
	commit   *trigger
	mode     string
	late     *lateKnob
	shapes   shapeKnobs
	src      Faults
}

type errorKnob struct {
	*trigger
	status int
	key    string
}

type throttleKnob struct {
	*trigger
	retryAfter int
	key        string
}

// compileFaults normalizes f (status 503, Retry-After 1 s and mode "502" when
// unset or out of range) and indexes it by endpoint; nil when f injects nothing.
func compileFaults(f Faults) *activeFaults {
	a := &activeFaults{latency: max(f.Latency, 0), src: f, mode: ModeBadGateway}
	active := a.latency > 0
	for _, key := range wildcardFirst(f.Errors) {
		e := f.Errors[key]
		status := e.Status
		if (status < 500 || status > 599) && !refusal(status) {
			status = 503
		}
		k := &errorKnob{trigger: newTrigger(e.Rate, e.Next), status: status, key: key}
		active = a.index(key, func(ep endpoint) { a.errors[ep] = k }) || active
	}
	for _, key := range wildcardFirst(f.Throttle) {
		t := f.Throttle[key]
		k := &throttleKnob{trigger: newTrigger(t.Rate, t.Next), retryAfter: max(t.RetryAfter, 1), key: key}
		active = a.index(key, func(ep endpoint) { a.throttle[ep] = k }) || active
	}
	if c := f.CommitThenFail; c.Rate > 0 || c.Next > 0 {
		a.commit = newTrigger(c.Rate, c.Next)
		if c.Mode != "" {
			a.mode = c.Mode
		}
		active = true
	}
	a.late = compileLate(f.LateCommit)
	shaped := a.compileShapes(f)
	active = active || a.late != nil || shaped || f.ReformatEcho
	if !active {
		return nil
	}
	return a
}

// index calls set for the endpoint named key, or for every endpoint when key is "*".
func (a *activeFaults) index(key string, set func(endpoint)) bool {
	if key == "*" {
		for ep := range endpoint(numEndpoints) {
			set(ep)
		}
		return true
	}
	ep, ok := endpointByName(key)
	if ok {
		set(ep)
	}
	return ok
}

// wildcardFirst returns the keys of m with "*" first, so that an endpoint's
// own key, applied later, wins over the wildcard.
func wildcardFirst[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k == "*" {
			keys = append([]string{k}, keys...)
		} else {
			keys = append(keys, k)
		}
	}
	return keys
}

// snapshot returns the configured faults with Next showing what is left.
func (a *activeFaults) snapshot() Faults {
	if a == nil {
		return Faults{}
	}
	f := Faults{Latency: a.latency, CommitThenFail: a.src.CommitThenFail, ReformatEcho: a.src.ReformatEcho}
	if len(a.src.Errors) > 0 {
		f.Errors = make(map[string]ErrorFault, len(a.src.Errors))
	}
	if len(a.src.Throttle) > 0 {
		f.Throttle = make(map[string]ThrottleFault, len(a.src.Throttle))
	}
	for ep := range endpoint(numEndpoints) {
		if k := a.errors[ep]; k != nil {
			f.Errors[k.key] = ErrorFault{Rate: k.rate, Next: k.remaining(), Status: k.status}
		}
		if k := a.throttle[ep]; k != nil {
			f.Throttle[k.key] = ThrottleFault{Rate: k.rate, Next: k.remaining(), RetryAfter: k.retryAfter}
		}
	}
	if a.commit != nil {
		f.CommitThenFail.Next = a.commit.remaining()
		f.CommitThenFail.Mode = a.mode
	}
	f.LateCommit = a.late.snapshot()
	a.shapes.snapshot(&f)
	return f
}
