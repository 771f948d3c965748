package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/schema"
	"github.com/rs/zerolog"
)

// quotingGate panics with a message that quotes the person's tax code, as
// a dependency's panic may quote what it was given.
type quotingGate struct{}

func (quotingGate) Allow(_ context.Context, _ string, svc *schema.Service, p *schema.Prepared) ([]schema.Problem, error) {
	tc, _ := svc.TaxCode(p)
	panic("no history for " + tc)
}

func (quotingGate) PersonKey(string, *schema.Service, *schema.Prepared) string { return "" }

// TestPanicValueNotLogged: a panic while a submission is processed is
// retried, and its log line says so, naming the panic's type, not its
// value: a value other than a runtime error's may quote the submission's
// personal data (here the tax code a dependency was given).
func TestPanicValueNotLogged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var logs pipetest.Buffer
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Gate = quotingGate{} }),
		pipetest.WithConfig(func(c *consumer.Config) { c.Logger = zerolog.New(&logs) }))
	h.Publish(pipetest.Submission("emp-panic", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 20*time.Second, "the panic's outcome logged", func() bool {
		return strings.Contains(logs.String(), `"outcome":"retry"`) && strings.Contains(logs.String(), "panic")
	})
	got := logs.String()
	if !strings.Contains(got, "panic with a value of type string") {
		t.Errorf("log: got %s, want the panic's type named", got)
	}
	for _, personal := range []string{"RSSMRA85T10A562S", "Mario", "mario.rossi@example.it"} {
		if strings.Contains(got, personal) {
			t.Errorf("log: got %q in %s, want no personal data", personal, got)
		}
	}
}
