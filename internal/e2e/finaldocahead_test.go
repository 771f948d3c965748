package e2e_test

import (
	"testing"
)

// TestFinalDocumentBacksOffWhateverTheTimestamps: timestamp_stati that
// put Visura evasa in the future (a unit mistaken, a clock ahead) say
// nothing of how long the final document has been awaited: its retries
// must back off all the same, not stay at the retry delay until the
// maximum age.
func TestFinalDocumentBacksOffWhateverTheTimestamps(t *testing.T) {
	finalDocumentBacksOff(t, "emp-ahead", "in the future by its timestamp_stati",
		func(d *timedDocuments) timedUpstream { return aheadRequests{d} })
}
