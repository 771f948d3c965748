package e2e_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/seal"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
)

func TestListOpenFilters(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: time.Hour}})
	ctx := context.Background()
	h.openRequests(ctx, 3)
	tests := []struct {
		name string
		f    tracking.OpenFilter
		want int
	}{
		{"all open", tracking.OpenFilter{}, 3},
		{"by state", tracking.OpenFilter{State: record.StateSubmitted}, 3},
		{"other state", tracking.OpenFilter{State: record.StateDataReady}, 0},
		{"older than an hour", tracking.OpenFilter{OlderThan: time.Hour}, 0},
		{"older than an hour, an hour from now", tracking.OpenFilter{OlderThan: time.Hour, Now: time.Now().Add(2 * time.Hour)}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tracking.ListOpen(ctx, h.Res, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("got %d open requests, want %d", len(got), tt.want)
			}
		})
	}
}

func TestFetchDocumentRefuses(t *testing.T) {
	h := newTrackHarness(t, fastTracking(50*time.Millisecond))
	sealer, other := newKeyring(t), newKeyring(t)
	tr := h.newTracker(sealer)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-f", pipetest.ValidFields("Mario")), nil)
	h.waitClosed("emp-f", 10*time.Second)
	ctx := context.Background()
	h.openRequest(ctx, "emp-nodoc")
	tests := []struct {
		name    string
		id      string
		s       *seal.Keyring
		wantErr error
	}{
		{"no key for an encrypted document", "emp-f", nil, nil},
		{"another key", "emp-f", other, nil},
		{"no document yet", "emp-nodoc", sealer, tracking.ErrNoDocument},
		{"unknown submission", "emp-none", sealer, record.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tracking.FetchDocument(ctx, h.NATS.JS, h.Res, pipetest.Tenant, tt.id, tt.s, io.Discard)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("got %v, want an error (%v)", err, tt.wantErr)
			}
		})
	}
}
