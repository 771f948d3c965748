package main

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
)

// newSimServer is the HTTP server of a simulator, built in (startSim) or
// on its own (iseed sim). It holds whatever was submitted, names and tax
// codes, and echoes it: a panic of its handlers is logged as the daemon's
// listeners' are, never left to net/http, which writes the value whole.
func newSimServer(s http.Handler, log zerolog.Logger) *http.Server {
	return &http.Server{Handler: panicsLogged(log, "simulator", s), ReadHeaderTimeout: 10 * time.Second}
}

// panicsLogged runs h, and logs a panic of its handlers as the worker
// pools do (workpool): the value only when the runtime raised it. Left to
// net/http, a panic's value went to the standard logger whole, and another
// one (a string, an error of a dependency) may quote what a handler was
// given or read: a callback's body, a record the console shows. The
// connection is then aborted, as net/http does after a panic, by
// panicking again with http.ErrAbortHandler, which it does not log.
func panicsLogged(log zerolog.Logger, listener string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v != http.ErrAbortHandler {
				ev := log.Error().Str("component", "http").Str("listener", listener).Str("method", r.Method).
					Str("path", r.URL.Path).Str("stack", string(debug.Stack()))
				if re, ok := v.(runtime.Error); ok {
					ev = ev.Str("panic", re.Error())
				} else {
					ev = ev.Str("panic_type", fmt.Sprintf("%T", v))
				}
				ev.Msg("HTTP handler panicked; the connection is closed")
			}
			panic(http.ErrAbortHandler)
		}()
		h.ServeHTTP(w, r)
	})
}
