package tracking

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the tracker's and the callback endpoint's Prometheus
// metrics. A nil *Metrics records nothing.
type Metrics struct {
	polls     *prometheus.CounterVec
	docs      prometheus.Counter
	trusted   prometheus.Gauge
	callbacks *prometheus.CounterVec
	unknown   prometheus.Counter
}

// NewMetrics registers the tracker's and the callback endpoint's metrics
// with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iseed", Name: "tracking_polls_total",
			Help: "Tracking task deliveries, by result: final (tracking over), open (poll again later), error, interrupted.",
		}, []string{"result"}),
		docs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iseed", Name: "documents_stored_total",
			Help: "Documents downloaded, verified and stored in the documents bucket.",
		}),
		trusted: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "iseed", Name: "callbacks_trusted",
			Help: "0 while callbacks are configured but look lost, and polls are not stretched; else 1.",
		}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iseed", Name: "callbacks_total",
			Help: "Callbacks the callback endpoint answered, by outcome: refreshed, not_tracked, not_yet, repeat, repeat_failed, refresh_failed, unknown, busy, too_many_news, forged, no_secret, bad_path, bad_request, too_large, too_slow.",
		}, []string{"outcome"}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iseed", Name: "tracking_unknown_states_total",
			Help: "Reads of a request whose stato_richiesta iseed does not know: its record does not move, and no document is fetched for it.",
		}),
	}
	// Every outcome is exported from the start, 0 until it happens, so
	// that rates and ratios over them need no absent().
	for _, o := range callbackOutcomes() {
		m.callbacks.WithLabelValues(string(o))
	}
	reg.MustRegister(m.polls, m.docs, m.trusted, m.callbacks, m.unknown)
	return m
}

func (m *Metrics) poll(o trackOutcome) {
	if m == nil {
		return
	}
	result := "open"
	switch {
	case o.Interrupted:
		result = "interrupted"
	case o.Err != nil:
		result = "error"
	case o.Final:
		result = "final"
	}
	m.polls.WithLabelValues(result).Inc()
}

func (m *Metrics) unknownState() {
	if m != nil {
		m.unknown.Inc()
	}
}

func (m *Metrics) documentStored() {
	if m != nil {
		m.docs.Inc()
	}
}

// callbacksTrusted sets iseed_callbacks_trusted.
func (m *Metrics) callbacksTrusted(on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.trusted.Set(v)
}

func (m *Metrics) callback(o callbackOutcome) {
	if m != nil {
		m.callbacks.WithLabelValues(string(o)).Inc()
	}
}

// callbackOutcome is how the callback endpoint answered a callback: the
// outcome label of iseed_callbacks_total. The set is fixed: a label
// never holds what the caller sent (tenant, id, state), which anyone can
// make up.
type callbackOutcome string

const (
	// A genuine callback (right secret).
	cbRefreshed     callbackOutcome = "refreshed"      // 200: the request was re-read
	cbNotTracked    callbackOutcome = "not_tracked"    // 200 unread: the request is no longer tracked (or never will be)
	cbNotYet        callbackOutcome = "not_yet"        // 503 unread: the request was still not tracked after NotYetWait
	cbRepeat        callbackOutcome = "repeat"         // 200 unread: its news was let through less than MinInterval ago (and read, if tracked)
	cbRepeatFailed  callbackOutcome = "repeat_failed"  // 503 unread: its news was let through less than MinInterval ago, and that read failed
	cbRefreshFailed callbackOutcome = "refresh_failed" // 503: the re-read failed
	cbUnknown       callbackOutcome = "unknown"        // 404: no record of the submission
	cbTooManyNews   callbackOutcome = "too_many_news"  // 503 unread: more news within MinInterval than are remembered
	// A genuine callback, or not: refused before or without its secret.
	cbBusy       callbackOutcome = "busy"        // 503: no reader for a form, no refresh slot, or the submission's refresh under way
	cbForged     callbackOutcome = "forged"      // 403: a wrong secret
	cbNoSecret   callbackOutcome = "no_secret"   // 403: a body that is not a request, or holds no secret
	cbBadPath    callbackOutcome = "bad_path"    // 404: the path names no possible submission
	cbBadRequest callbackOutcome = "bad_request" // 400: the body could not be read
	cbTooLarge   callbackOutcome = "too_large"   // 413: a form body beyond MaxBody
	cbTooSlow    callbackOutcome = "too_slow"    // 408: a body not read within BodyTimeout
)

// callbackOutcomes is every callbackOutcome.
func callbackOutcomes() []callbackOutcome {
	return []callbackOutcome{cbRefreshed, cbNotTracked, cbNotYet, cbRepeat, cbRepeatFailed, cbRefreshFailed, cbUnknown,
		cbTooManyNews, cbBusy, cbForged, cbNoSecret, cbBadPath, cbBadRequest, cbTooLarge, cbTooSlow}
}
