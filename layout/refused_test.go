package layout

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestRefused: the refusals that waiting does not remove are
// *RefusedError, the error otherwise unchanged; everything else is left to
// the caller's retries.
func TestRefused(t *testing.T) {
	apiErr := func(code jetstream.ErrorCode) error {
		return fmt.Errorf("layout: submissions stream: stream ISEED_SUBMISSIONS: %w", &jetstream.APIError{Code: 500, ErrorCode: code, Description: "refused"})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"an invalid configuration", apiErr(CodeInvalidConfig), true},
		{"replicas on a server not in a cluster", apiErr(CodeNotClustered), true},
		{"no file storage", apiErr(CodeNoStorage), true},
		{"the account's max streams", apiErr(CodeMaxStreams), true},
		{"over max ack pending", apiErr(CodeMaxAckPending), true},
		{"subjects another stream holds", apiErr(CodeSubjectOverlap), true},
		{"a cluster without a meta leader", apiErr(10008), false},
		{"no suitable peers: a node is down", apiErr(10005), false},
		{"insufficient resources in a cluster", apiErr(10023), false},
		{"a timeout", fmt.Errorf("layout: kv buckets: %w", context.DeadlineExceeded), false},
		{"no responders", fmt.Errorf("layout: submissions stream: %w", jetstream.ErrNoStreamResponse), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := refused(tt.err)
			var re *RefusedError
			if errors.As(got, &re) != tt.want {
				t.Fatalf("refused(%v): got %T, want a *RefusedError: %t", tt.err, got, tt.want)
			}
			if got.Error() != tt.err.Error() || !errors.Is(got, tt.err) {
				t.Errorf("refused(%v): got %q, want the error unchanged", tt.err, got)
			}
		})
	}
}
