package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// TestRequestListLimitFollowsTheVariable: ISEED_VISENGINE_MAX_LIST_BYTES
// bounds GET /richiesta, the account's whole list of requests, which
// reconciliation and the audit read: past it the read fails as too large;
// within it, it is read.
func TestRequestListLimitFollowsTheVariable(t *testing.T) {
	for _, tt := range []struct {
		limit    int64
		tooLarge bool
	}{{134217728, false}, {16, true}} {
		cfg := &Config{VisengineTimeout: 5 * time.Second, VisengineMaxList: tt.limit, SimStep: time.Second}
		c, s, err := newUpstream(cfg, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Richieste(context.Background())
		s.close()
		if got := errors.Is(err, visengine.ErrResponseTooLarge); got != tt.tooLarge {
			t.Errorf("limit %d: GET /richiesta: %v; want too large %v", tt.limit, err, tt.tooLarge)
		}
	}
}
