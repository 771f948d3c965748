package consumer_test

import (
	"slices"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/prometheus/client_golang/prometheus"
)

// TestWalletEmptyEndsOnEveryReplica: replica A finds the wallet empty
// (402); the wallet is topped up, and replica B sends what comes, A's
// handed-back submission too, so that A has nothing left to try. A's
// iseed_wallet_empty, which IseedWalletEmpty reads with max over the
// replicas, goes back to 0 and wallet_refilled is announced: a request
// was paid since A found the wallet empty. Before, A's gate ended only
// with a POST of its own: on a quiet deployment the critical alert said
// "no request can be paid" all night while B's were, and the wallet_empty
// event stayed the last word.
func TestWalletEmptyEndsOnEveryReplica(t *testing.T) {
	h := newHarness(t)
	h.Sim.SetWallet(5) // less than an ISEE
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	replica := func(reg *prometheus.Registry) []pipetest.Option {
		return []pipetest.Option{pipetest.WithMetrics(consumer.NewMetrics(reg)),
			pipetest.WithDeps(func(d *consumer.Deps) { d.Ledger = h.ledger() }),
			pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 1; c.WalletProbe = 3 * time.Second })}
	}
	h.Start(replica(regA)...)
	h.Publish(pipetest.Submission("w-1", pipetest.ValidFields("Mario Uno")), nil)
	pipetest.WaitFor(t, 10*time.Second, "replica A to find the wallet empty", func() bool { return metric(t, regA, "iseed_wallet_empty") == 1 })
	h.Start(replica(regB)...)
	h.Sim.SetWallet(1000)
	h.Publish(pipetest.Submission("w-2", pipetest.ValidFields("Mario Due")), nil)
	h.WaitState("w-1", record.StateSubmitted)
	h.WaitState("w-2", record.StateSubmitted)
	pipetest.WaitFor(t, 10*time.Second, "replica A's iseed_wallet_empty back to 0 (three of its probes)", func() bool {
		return metric(t, regA, "iseed_wallet_empty") == 0
	})
	if b := metric(t, regB, "iseed_wallet_empty"); b != 0 {
		t.Errorf("replica B's iseed_wallet_empty: got %v, want 0", b)
	}
	if types := h.accountEvents(); !slices.Contains(types, publisher.AccountWalletRefilled) {
		t.Errorf("account events with every submission sent after the top-up: got %v, want a wallet_refilled", types)
	}
}
