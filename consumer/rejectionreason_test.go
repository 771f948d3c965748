package consumer

import (
	"testing"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
)

// TestRejectionReasonIgnoresMetadataLeftOut: the problem that says a
// rejection left its metadata out (rejectWith) is not a fault of the
// input: a prior-ISEE refusal that carries it is still replayed
// unchanged once the ordinary ISEE has completed, not taken for invalid.
func TestRejectionReasonIgnoresMetadataLeftOut(t *testing.T) {
	for _, tt := range []struct {
		codes []string
		want  string
	}{
		{[]string{dlq.ReasonPriorISEE, CodeMetadataLeftOut}, dlq.ReasonPriorISEE},
		{[]string{"unknown_field", CodeMetadataLeftOut}, dlq.ReasonInvalid},
		{[]string{dlq.ReasonPriorISEE}, dlq.ReasonPriorISEE},
	} {
		probs := make([]publisher.Problem, len(tt.codes))
		for i, c := range tt.codes {
			probs[i].Code = c
		}
		if got := rejectionReason(probs); got != tt.want {
			t.Errorf("rejectionReason(%v): got %q, want %q", tt.codes, got, tt.want)
		}
	}
}
