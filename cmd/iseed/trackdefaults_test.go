package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/tracking"
)

// configDefault returns the default tag of Config's field name.
func configDefault(t *testing.T, name string) string {
	t.Helper()
	f, ok := reflect.TypeFor[Config]().FieldByName(name)
	if !ok {
		t.Fatalf("Config has no field %s", name)
	}
	return f.Tag.Get("default")
}

// TestConfigDefaultsAreTrackingDefaults: the daemon's defaults for the
// poll schedule and the prior-ISEE services (ISEED_POLL_EXPECT,
// ISEED_PRIOR_ISEE_SERVICES, ISEED_ISEE_SERVICES) are package tracking's
// own, so that a service's timing or prior-ISEE part is changed in one
// place as README.md's "Making a change" says, and not in the daemon only.
func TestConfigDefaultsAreTrackingDefaults(t *testing.T) {
	var expect Expectations
	if err := expect.Decode(configDefault(t, "PollExpect")); err != nil {
		t.Fatal(err)
	}
	if got, want := []tracking.Expectation(expect), tracking.DefaultExpectations(); !reflect.DeepEqual(got, want) {
		t.Errorf("ISEED_POLL_EXPECT's default: got %+v, want tracking.DefaultExpectations %+v", got, want)
	}
	svc := tracking.DefaultServices()
	for _, tt := range []struct {
		field string
		want  []string
	}{{"PriorServices", svc.NeedPrior}, {"ISEEServices", svc.CountAs}} {
		if got := strings.Split(configDefault(t, tt.field), ","); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s's default: got %q, want tracking.DefaultServices' %q", tt.field, got, tt.want)
		}
	}
}
