package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/publisher"
)

// An empty wallet (the upstream's 402) is the account's trouble, not the
// submission's: the pipeline stops pulling, as it does while the breaker is
// open, and the backlog waits in the stream. The submission that met it is
// handed back (nothing was created or charged); its reservation stays for
// its next delivery, which gets it back from Reserve. Every WalletProbe
// one message is let through as a trial; it goes through once the wallet
// is topped up, and pulling resumes. With the
// account API configured (WalletChecker), a balance read that shows credit
// again resumes at once. A request another replica was paid for after the
// wallet was found empty (its ledger entry) ends the wait too: that
// replica's POST went through, and this one may have no message left to
// try. A wallet_empty event, and a wallet_refilled one after, tell people;
// the gauge iseed_wallet_empty says it meanwhile.

// errWalletEmpty hands a message back while another POST tries the wallet.
var errWalletEmpty = errors.New("the Openapi wallet is empty: waiting for it to be topped up")

// WalletChecker reads the account's balance: true when it holds at least
// the given amount of euros.
type WalletChecker interface {
	Enough(ctx context.Context) (bool, error)
}

// AccountEvents publishes account-wide events.
type AccountEvents interface {
	Account(ctx context.Context, e publisher.AccountEvent) error
}

// walletGate is the state of the account's wallet as the pipeline saw it.
type walletGate struct {
	mu    sync.Mutex
	empty bool
	since time.Time // when it was found empty
	next  time.Time // when the next trial may go
	trial bool      // a trial is under way
}

// paused reports whether the pool must not pull now: the wallet is empty
// and the next trial is not due.
func (w *walletGate) paused(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.empty && now.Before(w.next)
}

// admit says whether a POST may go: always with credit; with an empty
// wallet, one at a time, as a trial.
func (w *walletGate) admit() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.empty {
		return true
	}
	if w.trial {
		return false
	}
	w.trial = true
	return true
}

// done ends a POST: a trial is over, whatever its answer (trip or clear
// follow when it said something of the wallet).
func (w *walletGate) done() {
	w.mu.Lock()
	w.trial = false
	w.mu.Unlock()
}

// trip records an empty wallet; first says whether it was not empty before.
func (w *walletGate) trip(now time.Time, probe time.Duration) (first bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	first = !w.empty
	if first {
		w.since = now
	}
	w.empty, w.trial, w.next = true, false, now.Add(probe)
	return first
}

// trialNow lets the next trial go at once.
func (w *walletGate) trialNow(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.empty {
		w.next = now
	}
}

// clear records a wallet with credit; it reports whether it was empty, and
// since when.
func (w *walletGate) clear() (was bool, since time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	was, since = w.empty, w.since
	w.empty, w.trial = false, false
	return was, since
}

// walletEmpty handles a 402: the gate trips, and the first time, people are told.
func (p *Pipeline) walletEmpty(ctx context.Context) {
	now := p.cfg.Now()
	if !p.wallet.trip(now, p.cfg.WalletProbe) {
		return
	}
	p.log.Warn().Dur("next_trial_in_ms", p.cfg.WalletProbe).Msg("the Openapi wallet is empty (402): not pulling until it is topped up")
	p.d.Metrics.walletEmpty(true)
	p.announceWallet(ctx, publisher.AccountEvent{Type: publisher.AccountWalletEmpty, At: now})
}

// walletOK handles a POST that went through: an empty wallet was topped up.
func (p *Pipeline) walletOK(ctx context.Context) {
	was, since := p.wallet.clear()
	if !was {
		return
	}
	p.log.Info().Msg("the Openapi wallet has credit again: pulling")
	p.d.Metrics.walletEmpty(false)
	p.announceWallet(ctx, publisher.AccountEvent{Type: publisher.AccountWalletRefilled, At: p.cfg.Now(), EmptySince: since})
}

// announceWallet publishes an account event; replicas that found the
// wallet empty within the same minute publish one of each (its id names
// that minute). It never waits: the worker calling it holds a submission
// (walletOK comes before the request id is recorded). An event the stream
// does not take at once (its leader moving to another node, a partition)
// goes to RunWallet, which tries it again.
func (p *Pipeline) announceWallet(ctx context.Context, e publisher.AccountEvent) {
	ev, ok := p.d.Events.(AccountEvents)
	if !ok {
		return
	}
	err := ev.Account(context.WithoutCancel(ctx), e)
	if err == nil {
		return
	}
	select {
	case p.unannounced <- e:
		p.log.Warn().Err(err).Str("event", e.Type).Msg("cannot publish the account event; trying again")
	default:
		p.log.Warn().Err(err).Str("event", e.Type).Msg("cannot publish the account event")
	}
}

// accountEventRetry bounds how long RunWallet tries an account event again:
// first after accountEventBackoff, doubling up to a minute.
const (
	accountEventRetry   = 10 * time.Minute
	accountEventBackoff = time.Second
)

// unannouncedEvent is an account event RunWallet tries again.
type unannouncedEvent struct {
	e     publisher.AccountEvent
	first time.Time // when it failed first
	wait  time.Duration
	next  time.Time
}

// RunWallet looks every WalletProbe, while the wallet is empty, for a
// request paid since (another replica's trial went through), and reads the
// balance when a WalletChecker is configured, letting the trial POST go as
// soon as it shows credit; and it publishes again the account events that
// announceWallet could not, for accountEventRetry each (those still
// unpublished when it returns are lost, with the warning already logged).
// It returns when ctx is done.
func (p *Pipeline) RunWallet(ctx context.Context) error {
	probe := time.NewTicker(p.cfg.WalletProbe)
	defer probe.Stop()
	var pending []*unannouncedEvent
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-p.unannounced:
			now := time.Now()
			pending = append(pending, &unannouncedEvent{e: e, first: now, wait: accountEventBackoff, next: now.Add(accountEventBackoff)})
		case <-retry.C:
			pending = p.announceAgain(ctx, pending)
		case <-probe.C:
			p.probeWallet(ctx)
		}
		if len(pending) > 0 {
			next := pending[0].next
			for _, u := range pending[1:] {
				if u.next.Before(next) {
					next = u.next
				}
			}
			retry.Reset(time.Until(next))
		}
	}
}

// announceAgain publishes the pending events that are due, and returns
// those still pending.
func (p *Pipeline) announceAgain(ctx context.Context, pending []*unannouncedEvent) []*unannouncedEvent {
	ev := p.d.Events.(AccountEvents) // only announceWallet, which checked, queues events
	kept := pending[:0]
	for _, u := range pending {
		now := time.Now()
		if now.Before(u.next) {
			kept = append(kept, u)
			continue
		}
		err := ev.Account(ctx, u.e)
		switch {
		case err == nil:
			p.log.Info().Str("event", u.e.Type).Msg("account event published")
		case now.Sub(u.first) >= accountEventRetry:
			p.log.Warn().Err(err).Str("event", u.e.Type).Msg("cannot publish the account event; given up")
		default:
			u.wait = min(2*u.wait, time.Minute)
			u.next = now.Add(u.wait)
			kept = append(kept, u)
		}
	}
	return kept
}

// probeWallet ends the wait of an empty wallet another replica's POST
// found topped up, or reads the balance.
func (p *Pipeline) probeWallet(ctx context.Context) {
	p.wallet.mu.Lock()
	empty, since := p.wallet.empty, p.wallet.since
	p.wallet.mu.Unlock()
	if !empty {
		return
	}
	if p.paidSince(ctx, since) {
		p.walletOK(ctx)
		return
	}
	if p.d.Wallet == nil {
		return
	}
	if ok, err := p.d.Wallet.Enough(ctx); err == nil && ok {
		// Credit, but maybe less than a request costs: one trial POST
		// goes now instead of at the next probe, and its answer says
		// whether the wallet was topped up (walletOK) or not.
		p.wallet.trialNow(p.cfg.Now())
	}
}

// paidSince reports whether the ledger's last entry is a request posted
// after t: a POST of some replica went through since this one found the
// wallet empty. A request posted before it and entered after (a
// concurrent POST) is not: its entry's time is the upstream's creation.
// The upstream's clock, ahead of NATS's, may date one posted moments
// before the 402 after it: the wait then ends early, and the next POST
// finds the wallet empty again (nothing is charged for a 402).
func (p *Pipeline) paidSince(ctx context.Context, t time.Time) bool {
	st := p.d.Resources.Ledger
	if st == nil {
		return false
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.LastSeq == 0 {
		return false
	}
	m, err := st.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		return false
	}
	var e ledger.Entry
	return json.Unmarshal(m.Data, &e) == nil && e.Source == ledger.SourcePosted && e.At.After(t)
}
