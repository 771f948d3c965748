package e2e_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// oddStateUpstream answers every read with a state the API does not
// publish.
type oddStateUpstream struct{ stato string }

func (u oddStateUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	return &visengine.Richiesta{ID: id, StatoRichiesta: u.stato}, nil
}

func (oddStateUpstream) Documento(context.Context, string, io.Writer) (*visengine.Document, error) {
	return nil, errors.New("no document")
}

// TestUnknownUpstreamStateIsSaid: a read that finds a state iseed does
// not know (a final one would never be taken for final, its document
// never fetched) leaves the record where it was, and says so: a warning
// naming the request, and iseed_tracking_unknown_states_total. A state it
// knows says nothing. The state itself is the upstream's free text, which
// may carry what the request is about (a tax code, a name): the warning
// never quotes it; the record keeps it (iseed status shows it).
func TestUnknownUpstreamStateIsSaid(t *testing.T) {
	for _, tt := range []struct {
		stato   string
		unknown bool
	}{{"Evasa parzialmente", true}, {"Sospesa RSSMRA80A01H501U", true}, {visengine.StateInProgress, false}, {visengine.StateSearching, false}} {
		t.Run(tt.stato, func(t *testing.T) {
			h := newTrackHarness(t, trackSetup{})
			logs, reg := &pipetest.Buffer{}, prometheus.NewRegistry()
			tr, err := tracking.New(tracking.Config{TempDir: t.TempDir(), Logger: zerolog.New(logs)},
				tracking.Deps{Resources: h.Res, Upstream: oddStateUpstream{tt.stato}, Events: publisher.New(h.NATS.JS, publisher.Config{}),
					Publisher: h.NATS.JS, Metrics: tracking.NewMetrics(reg)})
			if err != nil {
				t.Fatal(err)
			}
			h.putTracked("emp-odd", "req-odd", record.StateSubmitted, "")
			ctx := context.Background()
			if err := tr.Track(ctx, h.Record("emp-odd")); err != nil {
				t.Fatal(err)
			}
			if err := tr.Refresh(ctx, pipetest.Tenant, "emp-odd"); err != nil {
				t.Fatal(err)
			}
			want := 0.0
			if tt.unknown {
				want = 1
			}
			if got := gauge(t, reg, "iseed_tracking_unknown_states_total"); got != want {
				t.Errorf("iseed_tracking_unknown_states_total: got %v, want %v", got, want)
			}
			said := strings.Contains(logs.String(), "a request state iseed does not know") && strings.Contains(logs.String(), `"request_id":"req-odd"`)
			if said != tt.unknown {
				t.Errorf("warning logged: %v, want %v; logs:\n%s", said, tt.unknown, logs.String())
			}
			if tt.unknown && strings.Contains(logs.String(), tt.stato) {
				t.Errorf("the upstream's state text reached the logs:\n%s", logs.String())
			}
			if r := h.Record("emp-odd"); tt.unknown && (r.State != record.StateSubmitted || r.StatoRichiesta != tt.stato) {
				t.Errorf("record: %s, stato_richiesta %q; want submitted (an unknown state moves nothing), the state %q kept", r.State, r.StatoRichiesta, tt.stato)
			}
		})
	}
}
