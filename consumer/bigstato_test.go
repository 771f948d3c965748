package consumer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// wordyUpstream answers every POST with the request it made, its
// stato_richiesta replaced by a free text as long as the client reads.
type wordyUpstream struct {
	*visengine.Client
	stato string
}

func (u wordyUpstream) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	r, err := u.Client.CreateRichiesta(ctx, req)
	if err == nil {
		r.StatoRichiesta = u.stato
	}
	return r, err
}

// TestPostAnswersStatoIsCut: the POST's answer names a state the API does
// not publish, in a text near the client's 1 MiB limit. The record keeps it
// cut, as tracking keeps one it polls, and the submission is submitted and
// announced after its one POST. Kept whole, it took the record over the
// server's maximum payload: the write of the request id failed, and the
// submission went round the retries until reconciliation adopted its
// request from the listing.
func TestPostAnswersStatoIsCut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	long := "Sospesa: " + strings.Repeat("attesa documenti ", (visengine.DefaultMaxValueBytes-64)/17)
	h.Start(pipetest.WithUpstream(wordyUpstream{Client: h.Client, stato: long}))
	h.Publish(pipetest.Submission("wordy", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("wordy", record.StateSubmitted)
	if want := record.Cut(long, record.MaxStato); r.StatoRichiesta != want || len(want) > record.MaxStato+len("…") {
		t.Errorf("record's stato_richiesta: %d bytes, want the first %d and an ellipsis", len(r.StatoRichiesta), record.MaxStato)
	}
	h.WaitLastEvent("wordy", publisher.StatusType(record.StateSubmitted))
	for _, e := range h.Events("wordy") {
		if len(e.Data) > 4<<10 {
			t.Errorf("%s event: %d bytes of data, want the stato_richiesta cut", e.Type, len(e.Data))
		}
	}
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POST /richiesta: %d, want 1", got)
	}
}
