package tracking

import (
	"testing"
	"time"
)

// TestReadBackTimeout: reading a stored document back is bounded (a get of
// an object whose chunks went waits forever), but by its size: a minute
// for a document near the size limit (256 MiB) would need 4.3 MiB/s from
// the store, and a slow or replicated one failing it would fail every try,
// each downloading the document from the upstream again, until the
// maximum age.
func TestReadBackTimeout(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		size int64
		want time.Duration
	}{
		{"empty: the floor", 0, time.Minute},
		{"a small document: about the floor", 512 << 10, time.Minute + 500*time.Millisecond},
		{"one MiB", mib, time.Minute + time.Second},
		{"the size limit: a second a MiB", 256 * mib, time.Minute + 256*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readBackTimeout(tt.size)
			if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("readBackTimeout(%d) = %v, want %v", tt.size, got, tt.want)
			}
		})
	}
}
