package consumer

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

func TestSafeErrorHidesUpstreamMessages(t *testing.T) {
	ve := &visengine.Error{Op: "POST /richiesta", Status: 412, Code: 229, Class: visengine.ClassPermanent,
		Message: "error in the input data: RSSMRA85T10A562S Mario Rossi"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"bare", ve, "visengine POST /richiesta: permanent (HTTP 412, code 229)"},
		{"wrapped", fmt.Errorf("reconcile: %w", ve), "reconcile: visengine POST /richiesta: permanent (HTTP 412, code 229)"},
		{"joined", fmt.Errorf("%w; then: %w", ve, errors.New("dead letter: nats: timeout")), "visengine POST /richiesta: permanent (HTTP 412, code 229); then: dead letter: nats: timeout"},
		{"not upstream", errors.New("record changed concurrently"), "record changed concurrently"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := safeError(tt.err)
			if got != tt.want {
				t.Errorf("safeError: got %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "RSSMRA") || strings.Contains(got, "Mario") {
				t.Errorf("personal data survived: %q", got)
			}
		})
	}
}
