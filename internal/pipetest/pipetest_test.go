package pipetest

import (
	"context"
	"testing"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestProfileFollowsTheEnvironment: ISEED_SIM_PROFILE chooses the profile of
// every harness that does not choose one, so the second pass of .ci/test
// really runs on the published profile (whose 730 mandate is "null": false).
func TestProfileFollowsTheEnvironment(t *testing.T) {
	for _, tt := range []struct {
		env      string
		nullable bool
	}{{"", true}, {"friendly", true}, {"published", false}} {
		t.Run("ISEED_SIM_PROFILE="+tt.env, func(t *testing.T) {
			t.Setenv("ISEED_SIM_PROFILE", tt.env)
			h := New(t)
			v, err := h.Client.Visura(context.Background(), sim.Hash730Singolo)
			if err != nil {
				t.Fatal(err)
			}
			if got := bool(v.JSONStruttura.Campi["$7"].Null); got != tt.nullable {
				t.Errorf("730 $7 null: got %v, want %v", got, tt.nullable)
			}
		})
	}
}
