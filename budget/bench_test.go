package budget_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/natstest"
)

// BenchmarkReserve measures one Reserve and its Commit on an embedded
// server, one caller at a time, with caps on both scopes.
func BenchmarkReserve(b *testing.B) {
	bud := benchBudgets(b)
	ctx, now := context.Background(), at(b, "2026-03-05 10:00")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := bud.Reserve(ctx, "acme", fmt.Sprintf("s%d", i), price, now)
		if err != nil {
			b.Fatal(err)
		}
		if err := bud.Commit(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReserveParallel measures Reserves and Commits from many
// goroutines of one process, which share rounds of the usage keys.
func BenchmarkReserveParallel(b *testing.B) {
	bud := benchBudgets(b)
	ctx, now := context.Background(), at(b, "2026-03-05 10:00")
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, err := bud.Reserve(ctx, "acme", fmt.Sprintf("s%d", n.Add(1)), price, now)
			if err == nil {
				err = bud.Commit(ctx, r)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchBudgets(b *testing.B) *budget.Budgets {
	srv := natstest.Run(b)
	bud := replicaOf(b, srv)
	ctx := context.Background()
	if err := bud.Set(ctx, budget.Account(), budget.Caps{MonthlyEUR: 1e12}); err != nil {
		b.Fatal(err)
	}
	if err := bud.Set(ctx, budget.Tenant("acme"), budget.Caps{MonthlyEUR: 1e12}); err != nil {
		b.Fatal(err)
	}
	return bud
}
