package dlq

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkListAll lists 20,000 dead letters of 20 tenants, each letter a
// subject of its own (one a submission), as iseed dlq list and the
// console's dead-letters page do after an outage. docs/performance.md has
// the numbers.
func BenchmarkListAll(b *testing.B) {
	const n, tenants = 20_000, 20
	letters := make([][3]string, n)
	for i := range letters {
		letters[i] = [3]string{fmt.Sprintf("t%02d", i%tenants), fmt.Sprintf("s%06d", i), ReasonExpired}
	}
	q, _ := queueWith(b, letters...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		all, err := q.List(context.Background(), Filter{})
		if err != nil || len(all) != n {
			b.Fatalf("List: %d dead letters, %v; want %d", len(all), err, n)
		}
	}
}
