package sim

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// inject applies latency, throttling and injected errors before a call;
// it reports whether it answered the call.
func (s *Server) inject(w http.ResponseWriter, r *http.Request, f *activeFaults, ep endpoint) bool {
	if f.latency > 0 && !s.wait(r.Context(), f.latency) {
		writeError(w, apiError{http.StatusServiceUnavailable, http.StatusServiceUnavailable, "simulator closing"})
		return true
	}
	if k := f.throttle[ep]; k != nil && k.fire(s.chance) {
		w.Header().Set("Retry-After", strconv.Itoa(k.retryAfter))
		writeError(w, apiError{http.StatusTooManyRequests, http.StatusTooManyRequests, "Too Many Requests (simulated)"})
		return true
	}
	if k := f.errors[ep]; k != nil && k.fire(s.chance) {
		code := k.status
		if code == http.StatusPreconditionFailed {
			code = 250 // "Insufficient data to validate the request"
		}
		writeError(w, apiError{k.status, code, http.StatusText(k.status) + " (simulated)"})
		return true
	}
	return false
}

// wait sleeps for d; false when the call's context or the Server ended first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	return false
}

// commitThenFail runs after POST /richiesta created (and charged) a request:
// it reports whether a fault took over the answer.
func (s *Server) commitThenFail(w http.ResponseWriter, r *http.Request) bool {
	f := s.faults.Load()
	if f == nil || f.commit == nil || !f.commit.fire(s.chance) {
		return false
	}
	s.loseAnswer(w, r, f.mode)
	return true
}

// hang blocks until the client gives up or the Server closes.
func (s *Server) hang(ctx context.Context) {
	s.hangMu.Lock()
	if s.closed {
		s.hangMu.Unlock()
		return
	}
	s.hangs.Add(1)
	s.hangMu.Unlock()
	defer s.hangs.Done()
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
}
