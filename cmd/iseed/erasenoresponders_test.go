package main

import (
	"context"
	"io"
	"slices"
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
			got, err := newEraser(c, q, "acme").submissionMessages(ctx, []string{"emp-nr-1"})
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
