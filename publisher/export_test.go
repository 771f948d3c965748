package publisher

import "testing"

// SetEventsBatch makes ReadEvents fetch n events at a time, at most, until
// t ends: a test of what happens between fetches needs several.
func SetEventsBatch(t testing.TB, n int) {
	old := eventsBatch
	eventsBatch = n
	t.Cleanup(func() { eventsBatch = old })
}
