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
// fault was its Nats-Msg-Id) passes. A submission letter larger than the
// pipeline takes (maxBytes) is refused whatever its reason: the pipeline
// would reject it again as malformed for its size; a tracking (gave_up)
// letter does not go through the pipeline.
func TestCheckReplay(t *testing.T) {
	good := pipetest.Submission("emp-1", pipetest.ValidFields("Mario"))
	tests := []struct {
		reason   string
		payload  []byte
		maxBytes int // 0: no limit
		refused  bool
	}{
		{dlq.ReasonMalformed, good, 0, false},
		{dlq.ReasonMalformed, []byte(`{"id":"emp-1","fields":{}}`), 0, true},
		{dlq.ReasonMalformed, []byte("not json"), 0, true},
		{dlq.ReasonInvalid, good, 0, true},
		{dlq.ReasonConflict, good, 0, true},
		{dlq.ReasonInsufficientCredit, good, 0, false},
		{dlq.ReasonPriorISEE, good, 0, false},
		{dlq.ReasonMalformed, good, len(good), false},
		{dlq.ReasonMalformed, good, len(good) - 1, true},
		{dlq.ReasonInsufficientCredit, good, len(good) - 1, true},
		{dlq.ReasonGaveUp, []byte(`{"tenant":"acme","id":"emp-1"}`), 10, false},
	}
	for _, tt := range tests {
		err := consumer.CheckReplay(dlq.DeadLetter{Seq: 1, Reason: tt.reason}, tt.payload, tt.maxBytes)
		var re *dlq.RefusedError
		if got := errors.As(err, &re); got != tt.refused {
			t.Errorf("%s, %.30q, at most %d bytes: got refused %v (%v), want %v", tt.reason, tt.payload, tt.maxBytes, got, err, tt.refused)
		}
	}
}
