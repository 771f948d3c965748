package consumer_test

import (
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// harness is the pipeline harness; test files add their own helpers to it.
type harness struct{ *pipetest.Harness }

func newHarness(t *testing.T) *harness { return &harness{pipetest.New(t)} }
