package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
)

// TestEraseFindsMessagesThroughNoResponders: iseed erase's search of the
// submissions stream tries a fetch answered "no responders" again, and
// still finds the person's messages; three in a row fail it, never a
// short search taken for the whole one (which would leave messages).
func TestEraseFindsMessagesThroughNoResponders(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for _, id := range []string{"emp-nr-1", "emp-other", "emp-nr-1"} {
		ack, err := srv.JS.Publish(ctx, res.Layout.SubmissionSubject("acme"), []byte(`{"id":"`+id+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		if id == "emp-nr-1" {
			want = append(want, ack.Sequence)
		}
	}
	for _, tt := range []struct {
		name    string
		fail    func(n int64) bool
		wantErr bool
	}{
		{"the first fetch", func(n int64) bool { return n == 1 }, false},
		{"the second and third", func(n int64) bool { return n == 2 || n == 3 }, false},
		{"every fetch after the first", func(n int64) bool { return n >= 2 }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, c, err := openQueueOn(ctx, io.Discard, false)
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			copied := *c.res
			copied.Submissions = natstest.NewNoResponders(c.res.Submissions, tt.fail)
			c.res = &copied
			er := newEraser(c, q, "acme")
			er.batch = 1 // a fetch a message: the second and third fetches exist
			got, err := er.submissionMessages(ctx, []string{"emp-nr-1"})
			if tt.wantErr {
				if err == nil {
					t.Errorf("got %v and no error, want an error", got)
				}
				return
			}
			if err != nil || !slices.Equal(got["emp-nr-1"], want) {
				t.Errorf("got %v, error %v; want emp-nr-1 at %v", got, err, want)
			}
		})
	}
}

// TestEraseSearchFetchesInBatches: erase's search reads many messages a
// fetch: each fetch of an ordered consumer makes a consumer of its own (on
// a cluster through its meta leader), and it made one for each of the
// tenant's submissions.
func TestEraseSearchFetchesInBatches(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := srv.JS.Publish(ctx, res.Layout.SubmissionSubject("acme"), fmt.Appendf(nil, `{"id":"emp-b-%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	q, c, err := openQueueOn(ctx, io.Discard, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var fetches atomic.Int64
	copied := *c.res
	copied.Submissions = natstest.NewNoResponders(c.res.Submissions, func(n int64) bool { fetches.Store(n); return false })
	c.res = &copied
	got, err := newEraser(c, q, "acme").submissionMessages(ctx, []string{"emp-b-19"})
	if err != nil || len(got["emp-b-19"]) != 1 {
		t.Fatalf("got %v, error %v; want emp-b-19 once", got, err)
	}
	if fetches.Load() > 1 {
		t.Errorf("the search of 20 messages made %d fetches, want 1", fetches.Load())
	}
}
