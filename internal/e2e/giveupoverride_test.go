package e2e_test

import (
	"slices"
	"testing"
)

// A give-up committed while a callback's refresh downloads the final
// document is overridden when the download is stored: the upstream
// fulfilled the request, which was paid. The record ends completed, its
// timeline keeps the give-up and says completed overrides it, and the
// events end with the final document's and completed, after failed.
func TestACompletionRacingAGiveUpOverridesIt(t *testing.T) {
	g, up := downloading(t, nil)
	g.runTracker(g.tr) // its first poll gives up
	g.waitGaveUp(true)
	up.open()
	g.checkAnswered()
	want := []string{"failed", "in_progress", "data_ready", "document.ready", "completed"}
	if got := g.statusTypes(); !slices.Equal(got, want) {
		t.Errorf("events: got %v, want %v", got, want)
	}
	g.checkOverridden()
}
