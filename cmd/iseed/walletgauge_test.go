package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestWalletGaugeAbsentUntilRead: iseed_wallet_euros is the wallet's
// credit as read from the account API; a replica that has not read it
// (the API refusing the credentials, unreachable) exports no value, and
// exports the credit from its first read that succeeds. It exported 0
// from its start, so IseedWalletLow (min below 100 for 10 minutes) said
// "the Visengine wallet holds 0.00 euros" of a wallet never read, and
// asked for a top-up.
func TestWalletGaugeAbsentUntilRead(t *testing.T) {
	s := sim.New(sim.Config{Token: "tok", AccountEmail: "finance@example.com", AccountAPIKey: "key"})
	s.SetWallet(250)
	var refuse atomic.Bool
	var refused atomic.Int32
	refuse.Store(true)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() { // the account API down
			refused.Add(1)
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { s.Close(); hs.Close() })
	t.Setenv("ISEED_OPENAPI_ACCOUNT_URL", hs.URL)
	t.Setenv("ISEED_OPENAPI_ACCOUNT_EMAIL", "finance@example.com")
	t.Setenv("ISEED_OPENAPI_ACCOUNT_API_KEY", "key")
	t.Setenv("ISEED_WALLET_PROBE", "1s")
	d, _ := startCLIDaemonWith(t, nil)
	wallet := regexp.MustCompile(`(?m)^iseed_wallet_euros .*$`)
	scrape := func() string {
		resp, err := http.Get("http://" + d.admin.ln.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(wallet.Find(body))
	}
	waitUntil(t, 20*time.Second, "two reads of the wallet refused", func() bool { return refused.Load() >= 2 })
	if got := scrape(); got != "" {
		t.Errorf("/metrics with every wallet read refused: got %q, want no iseed_wallet_euros", got)
	}
	refuse.Store(false)
	waitUntil(t, 20*time.Second, "iseed_wallet_euros 250 once a read succeeds", func() bool { return scrape() == "iseed_wallet_euros 250" })
}
