//go:build race

package overview

// raceEnabled: the race detector slows the 100,000-record test tenfold and
// changes what a heap measurement means.
const raceEnabled = true
