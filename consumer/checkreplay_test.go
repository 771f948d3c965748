package consumer_test

import (
	"errors"
	"testing"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestCheckReplay: a letter is refused unchanged as dlq.CheckReplay
// refuses it, but a malformed one whose payload is a submission (its only
// fault was its Nats-Msg-Id) passes.
func TestCheckReplay(t *testing.T) {
	good := pipetest.Submission("emp-1", pipetest.ValidFields("Mario"))
	tests := []struct {
		reason  string
		payload []byte
		refused bool
	}{
		{dlq.ReasonMalformed, good, false},
		{dlq.ReasonMalformed, []byte(`{"id":"emp-1","fields":{}}`), true},
		{dlq.ReasonMalformed, []byte("not json"), true},
		{dlq.ReasonInvalid, good, true},
		{dlq.ReasonConflict, good, true},
		{dlq.ReasonInsufficientCredit, good, false},
		{dlq.ReasonPriorISEE, good, false},
	}
	for _, tt := range tests {
		err := consumer.CheckReplay(dlq.DeadLetter{Seq: 1, Reason: tt.reason}, tt.payload)
		var re *dlq.RefusedError
		if got := errors.As(err, &re); got != tt.refused {
			t.Errorf("%s, %.30q: got refused %v (%v), want %v", tt.reason, tt.payload, got, err, tt.refused)
		}
	}
}
