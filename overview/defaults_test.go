package overview

import (
	"testing"
	"time"
)

// TestOverdueAfterDefault: without a span, a request counts as overdue
// after the rule the Config names, 15 working days × 7/5 calendar days
// (504 h), as the daemon's default ISEED_OVERDUE_WORKDAYS gives.
func TestOverdueAfterDefault(t *testing.T) {
	if got, want := (Config{}).withDefaults().OverdueAfter, 504*time.Hour; got != want {
		t.Errorf("default OverdueAfter: got %s, want %s", got, want)
	}
	if got := (Config{OverdueAfter: time.Hour}).withDefaults().OverdueAfter; got != time.Hour {
		t.Errorf("a span given: got %s, want 1h", got)
	}
}
