package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
	"github.com/sony/gobreaker/v2"
)

// newBreaker returns the circuit breaker around POST /richiesta. Only
// failures that say the upstream is unwell count: network trouble, 5xx,
// ambiguous answers. A 4xx answer is a healthy upstream saying no. A POST
// cut short because a referenced file could not be written into it counts
// neither way: the file is a tenant's, which may change or delete it
// between its check and the POST at will, and five such POSTs in a row
// would otherwise open the breaker, and stop every tenant's submissions.
func newBreaker(cfg BreakerConfig, log zerolog.Logger, m *Metrics) *gobreaker.CircuitBreaker[*visengine.Richiesta] {
	if cfg.Failures <= 0 {
		cfg.Failures = 5
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 15 * time.Second
	}
	return gobreaker.NewCircuitBreaker[*visengine.Richiesta](gobreaker.Settings{
		Name:        "visengine",
		MaxRequests: 1,
		Timeout:     cfg.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return uint64(c.ConsecutiveFailures) >= uint64(cfg.Failures) }, // not uint32: 1<<32 would be 0
		IsSuccessful: func(err error) bool {
			return !upstreamUnwell(err)
		},
		IsExcluded: fileFailed,
		OnStateChange: func(_ string, from, to gobreaker.State) {
			log.Warn().Str("from", from.String()).Str("to", to.String()).Msg("upstream circuit breaker changed state")
			m.breakerState(to)
		},
	})
}

func upstreamUnwell(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	switch visengine.ClassOf(err) {
	case visengine.ClassRetryable, visengine.ClassAmbiguous:
		return true
	case 0:
		return !errors.Is(err, context.DeadlineExceeded)
	default:
		return false
	}
}

// fileFailed reports whether err is a referenced file that the POST could
// not send (schema.FileError): not the upstream's doing.
func fileFailed(err error) bool {
	var fe *schema.FileError
	return errors.As(err, &fe)
}

// breakerOpen reports whether err is the breaker refusing a call.
func breakerOpen(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}
