package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/account"
	"github.com/iseed-dev/iseed/audit"
	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// simAccountEmail is the built-in simulator's account user (its key is
// drawn at each start): it serves the account API too, so that the wallet
// gauge and the audit work on the defaults.
const simAccountEmail = "sim@example.com"

// moneyParts are the money components of the daemon.
type moneyParts struct {
	budgets *budget.Budgets // nil with ISEED_SPENDING_CAPS=false
	ledger  *ledger.Ledger
	today   *ledger.Tally   // the overview's "spent today", following the ledger
	account *account.Client // nil without ISEED_OPENAPI_ACCOUNT_*
	wallet  prometheus.Gauge
	audit   prometheus.Gauge
}

// buildMoney makes the caps, the ledger and the account client, and
// applies ISEED_BUDGETS_FILE.
func (d *daemon) buildMoney(ctx context.Context) (*moneyParts, error) {
	m := &moneyParts{ledger: ledger.New(d.js, d.res.Ledger, ledger.Config{Prefix: d.res.Layout.Prefix, Now: d.clock.Now})}
	loc, err := d.dayZone()
	if err != nil {
		return nil, err
	}
	m.today = m.ledger.NewTally(func(now time.Time) money.Period { return money.Day(now, loc) })
	if d.cfg.SpendingCaps {
		b, err := budget.New(d.res.Budgets, d.res.BudgetUsage, budget.Config{Location: loc})
		if err != nil {
			return nil, err
		}
		m.budgets = b
		if err := d.applyBudgetsFile(ctx, b, d.cfg.BudgetsFile); err != nil {
			return nil, err
		}
	}
	if m.account, err = accountClient(d.cfg, d.sim); err != nil {
		return nil, err
	}
	m.wallet = &walletGauge{reg: d.metrics, Gauge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "iseed", Name: "wallet_euros",
		Help: "The Openapi wallet's credit, read from the account API every ISEED_WALLET_PROBE (absent without ISEED_OPENAPI_ACCOUNT_*, and until a read succeeds)."})}
	m.audit = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "iseed", Name: "audit_unmatched_requests",
		Help: "Findings of the last audit (ISEED_AUDIT_EVERY): upstream requests, charges and records that do not match."})
	if d.cfg.AuditEvery > 0 {
		d.metrics.MustRegister(m.audit)
	}
	return m, nil
}

// walletGauge is iseed_wallet_euros, registered with the first credit
// read: a replica that has not read the wallet (the account API refusing
// its credentials, unreachable) exports nothing, rather than 0 euros, which
// IseedWalletLow took for an empty wallet.
type walletGauge struct {
	prometheus.Gauge
	reg  prometheus.Registerer
	once sync.Once
}

// Set sets the credit read, registering the gauge the first time.
func (w *walletGauge) Set(euros float64) {
	w.Gauge.Set(euros)
	w.once.Do(func() { w.reg.MustRegister(w.Gauge) })
}

// dayZone is where the days and months of the caps and of the spend end:
// Europe/Rome, but in tests.
func (d *daemon) dayZone() (*time.Location, error) {
	if d.cfg.dayZone != nil {
		return d.cfg.dayZone, nil
	}
	return money.Rome()
}

// applyBudgetsFile sets the caps a file names, at start. The file is
// validated when read; writing its caps is a start-up step, retried like
// the others.
func (d *daemon) applyBudgetsFile(ctx context.Context, b *budget.Budgets, path string) error {
	if path == "" {
		return nil
	}
	file, err := readBudgetsFile(path)
	if err != nil {
		return err
	}
	_, err = retryStartup(ctx, d.log, "ISEED_BUDGETS_FILE's caps", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, b.Apply(ctx, file)
	})
	return err
}

// readBudgetsFile reads and parses ISEED_BUDGETS_FILE.
func readBudgetsFile(path string) (budget.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return budget.File{}, fmt.Errorf("ISEED_BUDGETS_FILE: %w", err)
	}
	defer f.Close()
	file, err := budget.ParseFile(f)
	if err != nil {
		return budget.File{}, fmt.Errorf("ISEED_BUDGETS_FILE %s: %w", path, err)
	}
	return file, nil
}

// accountClient is the Openapi account API client: the configured one, the
// built-in simulator's on the defaults, or nil.
func accountClient(cfg *Config, s *simServer) (*account.Client, error) {
	base, email, key := cfg.AccountURL.URL, cfg.AccountEmail, cfg.AccountAPIKey
	if s != nil && email == "" {
		base, email, key = s.base, simAccountEmail, s.accountKey
	}
	if email == "" {
		return nil, nil
	}
	if base == nil {
		base = mustURL(account.ProductionURL)
	}
	return account.New(account.Config{BaseURL: base, Email: email, APIKey: key, Timeout: cfg.VisengineTimeout})
}

// walletEnough implements consumer.WalletChecker with the account API.
type walletEnough struct {
	acct  *account.Client
	gauge prometheus.Gauge
	min   money.Cents
}

func (w walletEnough) Enough(ctx context.Context) (bool, error) {
	wl, err := w.acct.Wallet(ctx)
	if err != nil {
		return false, err
	}
	w.gauge.Set(wl.Credit.Euros())
	return wl.Credit >= w.min, nil
}

// runWallet reads the balance every probe: the gauge, and a warning when it
// is below ISEED_WALLET_WARN_EUR. It refuses nothing on a guess.
func (d *daemon) runWallet(ctx context.Context) error {
	if d.money.account == nil {
		<-ctx.Done()
		return nil
	}
	// To the nearest cent (0.29 × 100 is 28.999…, not 29); the config
	// check refused what has no amount in cents.
	warn, _ := money.FromFloat(d.cfg.WalletWarnEUR)
	log := d.log.With().Str("component", "wallet").Logger()
	low := log.Sample(&zerolog.BurstSampler{Burst: 1, Period: time.Hour})
	unread := log.Sample(&zerolog.BurstSampler{Burst: 1, Period: time.Hour})
	read := func() {
		wl, err := d.money.account.Wallet(ctx)
		if err != nil {
			if ctx.Err() == nil {
				unread.Warn().Err(err).Msg("cannot read the Openapi wallet (ISEED_OPENAPI_ACCOUNT_*): iseed_wallet_euros keeps its last value, absent until a read succeeds")
			}
			return
		}
		d.money.wallet.Set(wl.Credit.Euros())
		if wl.Credit < warn {
			low.Warn().Str("credit", wl.Credit.String()).Float64("warn_below", d.cfg.WalletWarnEUR).
				Msg("the Openapi wallet is running low: top it up before requests start failing")
		}
	}
	read() // at start too
	return every(ctx, d.cfg.WalletProbe, read)
}

// runAudit audits the last day every ISEED_AUDIT_EVERY and exports how
// many findings it made.
func (d *daemon) runAudit(ctx context.Context) error {
	if d.cfg.AuditEvery <= 0 {
		<-ctx.Done()
		return nil
	}
	return every(ctx, d.cfg.AuditEvery, func() {
		now := d.clock.Now()
		res, err := runAudit(ctx, d.js, d.res, d.upstream, d.money.account, money.Period{From: now.Add(-24 * time.Hour), To: now})
		if res == nil {
			d.log.Warn().Err(err).Str("component", "audit").Msg("audit failed; retrying at the next interval")
			return
		}
		if err != nil { // the wallet alone: the rest is checked
			d.log.Warn().Err(err).Str("component", "audit").Msg("the audit could not read the wallet: it checked the rest; retrying at the next interval")
		}
		c := res.Counts()
		n := c.Unowned + c.Missing + c.Mismatches + c.Unledgered + c.UnmatchedCharges
		d.money.audit.Set(float64(n))
		if n > 0 {
			d.log.Warn().Str("component", "audit").Int("findings", n).Msg("the audit found requests or charges that do not match: run iseed audit")
		}
	})
}

// requestLister lists the upstream account's requests: GET /richiesta.
type requestLister interface {
	Richieste(ctx context.Context) ([]visengine.RichiestaSummary, error)
}

// walletUnreadError says that the audit could not read the wallet's
// transactions, and checked everything else.
type walletUnreadError struct{ err error }

func (e *walletUnreadError) Error() string {
	return "the wallet was not checked: its transactions cannot be read: " + e.err.Error()
}

func (e *walletUnreadError) Unwrap() error { return e.err }

// runAudit gathers what the audit compares, for a period, and checks it.
// A wallet whose transactions cannot be read (the account API down, or
// refusing its key) is not checked: the rest is, and runAudit returns
// that result with a *walletUnreadError. Any other error ends the audit
// (a nil result): the wallet is read last, and only for its own check,
// so that its trouble never hides a request paid upstream that no
// submission owns.
func runAudit(ctx context.Context, js jetstream.JetStream, res *layout.Resources, up requestLister, acct *account.Client, p money.Period) (*audit.Result, error) {
	in := audit.Input{Period: p, Index: map[string]string{}}
	st, err := js.Stream(ctx, res.Layout.RecordsStream())
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	// The records written from here on are reread for candidates, from
	// this stream: one made anew meanwhile ends the audit (claimedSince).
	since, created := st.CachedInfo().State.LastSeq, st.CachedInfo().Created
	err = record.NewStore(res.Records).Each(ctx, func(r *record.Record) error {
		in.Records = append(in.Records, r)
		return nil
	})
	// The records read are all those of the bucket since numbers, or the
	// audit ends: one deleted while Each read ends it early, one made
	// anew before Each began is read whole, as a bucket of its own.
	if changed := bucket.Changed(ctx, res.Records, created); changed != nil {
		return nil, changedDuring("the records bucket", changed)
	}
	if err != nil {
		return nil, err
	}
	if err := bucket.Keys(ctx, res.Requests, func(k string) error {
		e, err := res.Requests.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return nil
		case err != nil:
			return err
		}
		in.Index[record.RequestID(k)] = string(e.Value())
		return nil
	}); errors.Is(err, bucket.ErrDeleted) || errors.Is(err, bucket.ErrMadeAnew) {
		return nil, changedDuring("the request index", err)
	} else if err != nil {
		return nil, fmt.Errorf("request index: %w", err)
	}
	l := ledger.New(js, res.Ledger, ledger.Config{Prefix: res.Layout.Prefix})
	if in.Ledger, err = l.Entries(ctx, p.From.Add(-24*time.Hour), p.To.Add(24*time.Hour), ""); err != nil {
		return nil, err
	}
	if in.Upstream, err = up.Richieste(ctx); err != nil {
		return nil, fmt.Errorf("GET /richiesta: %w", err)
	}
	if err := recheck(ctx, js, res, l, since, created, &in); err != nil {
		return nil, err
	}
	var unread error
	if acct != nil {
		if in.Transactions, err = acct.Transactions(ctx, p.From); err != nil {
			in.Transactions, unread = nil, &walletUnreadError{err: err}
		}
	}
	r := audit.Check(in)
	if err := dropYoungCharges(ctx, js, res, l, &in, r); err != nil {
		return nil, err
	}
	return r, unread
}

// mustURL parses a URL that is a constant of the program.
func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
