package main

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/account"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// TestWalletWarnsBelowTheThreshold: the daemon warns while the wallet's
// credit, read from the account API, is below ISEED_WALLET_WARN_EUR, to the
// cent. Before, the threshold was the float's euros times 100 cut to a
// whole cent: 0.29 became 0.28 and 1.15 became 1.14, so a credit one
// cent below the threshold was not warned of.
func TestWalletWarnsBelowTheThreshold(t *testing.T) {
	tests := []struct {
		warn, credit float64
		want         bool
	}{
		{0.29, 0.28, true},
		{1.15, 1.14, true},
		{0.29, 0.29, false},
		{100, 100, false},
		{100, 99.99, true},
	}
	for _, tt := range tests {
		s := sim.New(sim.Config{Token: "tok", AccountEmail: "finance@example.com", AccountAPIKey: "key"})
		hs := httptest.NewServer(s)
		s.SetWallet(tt.credit)
		u, err := url.Parse(hs.URL)
		if err != nil {
			t.Fatal(err)
		}
		acct, err := account.New(account.Config{BaseURL: u, Email: "finance@example.com", APIKey: "key", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		logs := &pipetest.Buffer{}
		gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "wallet_euros"})
		gauge.Set(-1)
		d := &daemon{cfg: &Config{WalletWarnEUR: tt.warn, WalletProbe: time.Hour}, log: zerolog.New(logs),
			money: &moneyParts{account: acct, wallet: gauge}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.runWallet(ctx) }()
		waitUntil(t, 10*time.Second, "the wallet to be read", func() bool { return testutil.ToFloat64(gauge) == tt.credit })
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runWallet: %v", err)
		}
		s.Close()
		hs.Close()
		if got := strings.Contains(logs.String(), "the Openapi wallet is running low"); got != tt.want {
			t.Errorf("ISEED_WALLET_WARN_EUR %v, credit %v: warned %v, want %v; log:\n%s", tt.warn, tt.credit, got, tt.want, logs.String())
		}
	}
}
