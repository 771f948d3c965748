package consumer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/visengine/sim"
)

func TestListOpenFilters(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: time.Hour}})
	ctx := context.Background()
	h.openRequests(ctx, 3)
	tests := []struct {
		name string
		f    consumer.OpenFilter
		want int
	}{
		{"all open", consumer.OpenFilter{}, 3},
		{"by state", consumer.OpenFilter{State: consumer.StateSubmitted}, 3},
		{"other state", consumer.OpenFilter{State: consumer.StateDataReady}, 0},
		{"older than an hour", consumer.OpenFilter{OlderThan: time.Hour}, 0},
		{"older than an hour, an hour from now", consumer.OpenFilter{OlderThan: time.Hour, Now: time.Now().Add(2 * time.Hour)}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := consumer.ListOpen(ctx, h.res, tt.f)
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
	key := bytes.Repeat([]byte{1}, 32)
	sealer, _ := consumer.NewSealer(key)
	other, _ := consumer.NewSealer(bytes.Repeat([]byte{2}, 32))
	tr := h.newTracker(sealer)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.publish(submission("emp-f", validFields("Mario")), nil)
	h.waitClosed("emp-f", 10*time.Second)
	ctx := context.Background()
	h.openRequest(ctx, "emp-nodoc")
	tests := []struct {
		name    string
		id      string
		s       *consumer.Sealer
		wantErr error
	}{
		{"no key for an encrypted document", "emp-f", nil, nil},
		{"another key", "emp-f", other, nil},
		{"no document yet", "emp-nodoc", sealer, consumer.ErrNoDocument},
		{"unknown submission", "emp-none", sealer, consumer.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := consumer.FetchDocument(ctx, h.res, h.tr, tenant, tt.id, tt.s, io.Discard)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("got %v, want an error (%v)", err, tt.wantErr)
			}
		})
	}
}
