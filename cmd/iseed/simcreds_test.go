package main

import (
	"context"
	"errors"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestBuiltInSimulatorCredentials: the built-in simulator holds and echoes
// whatever was submitted, so it answers only to credentials drawn at each
// start, never to a token every install shares (it was "sim-token").
func TestBuiltInSimulatorCredentials(t *testing.T) {
	var tokens []string
	for range 2 {
		s, err := startSim(sim.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.close)
		if len(s.token) < 20 || len(s.accountKey) < 20 {
			t.Fatalf("token %q, account key %q: want random ones", s.token, s.accountKey)
		}
		for _, tc := range []struct {
			token string
			ok    bool
		}{{s.token, true}, {"sim-token", false}} {
			c, err := visengine.New(visengine.Config{BaseURL: s.base, Token: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Richieste(context.Background())
			var ve *visengine.Error
			refused := errors.As(err, &ve) && ve.Status == 401
			if refused == tc.ok {
				t.Errorf("token %q: got %v, want refused %v", tc.token, err, !tc.ok)
			}
		}
		tokens = append(tokens, s.token)
	}
	if tokens[0] == tokens[1] {
		t.Errorf("two starts drew the same token %q", tokens[0])
	}
}
