//go:build race

package schema

// raceEnabled: the race detector slows byte-by-byte work some twentyfold;
// the longest tests check less of their data under it.
const raceEnabled = true
