package sim

import (
	"cmp"
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Server. Only Token is required.
type Config struct {
	Token string        // every API call needs "Authorization: Bearer <Token>"; empty rejects all
	Step  time.Duration // time between lifecycle states; 0 means 2s
	// Lifetime, when set, paces each submitted request instead of Step: it
	// reaches Dati disponibili ready after its submission and Visura evasa
	// done after it (a doomed one is Annullata at ready), on Now's clock.
	// hash is its service's hash_visura and seq its creation order (from
	// 1), for draws that replay. Answers are clamped to 0 ≤ ready ≤ done,
	// with done at least 1ns.
	Lifetime   func(hash string, submitted time.Time, seq uint64) (ready, done time.Duration)
	CancelRate float64          // 0..1: share of submitted requests that end Annullata
	Wallet     float64          // initial balance in euro; 0 means 1000 (use SetWallet(0) for an empty wallet)
	Owner      string           // account e-mail shown as "owner"; "" means "sandbox@example.com"
	Seed       int64            // seeds ids, CancelRate and fault rates
	HTTPClient *http.Client     // for callbacks; nil means an own client with a 5s timeout
	Now        func() time.Time // the clock; nil means time.Now
	Catalog    []Service        // the services; nil means the profile's: DefaultCatalog() or PublishedCatalog()
	Faults     Faults           // faults active from the start
	Profile    Profile          // ProfileFriendly ("" too) or ProfilePublished
	Echo       Echo             // what request answers echo of their input; "" means the profile's default

	// AccountEmail and AccountAPIKey authenticate the account API (GET
	// /wallet, GET /wallet/transactions) with "Authorization: Basic
	// base64(email:apikey)"; unless both are set, every call is refused.
	AccountEmail, AccountAPIKey string
}

// Counter keys beyond the endpoints'.
const (
	cCreated = int(numEndpoints) + iota
	cCharged
	cCallbacks
	cCallbackFailures
	numCounters
)

func counterName(i int) string {
	switch i {
	case cCreated:
		return "created"
	case cCharged:
		return "charged"
	case cCallbacks:
		return "callbacks"
	case cCallbackFailures:
		return "callback_failures"
	}
	return endpoint(i).String()
}

// Server is the simulated API. Create it with New, serve it as an
// http.Handler, and Close it.
type Server struct {
	token      string
	step       time.Duration
	lifetime   func(hash string, submitted time.Time, seq uint64) (ready, done time.Duration)
	cancelRate float64
	owner      string
	seed       uint64
	now        func() time.Time
	profile    Profile
	echo       Echo // never ""
	cat        *catalog
	store      *store
	ids        *idGen

	accountEmail, accountAPIKey string // the account API's Basic credentials

	ledger   *ledger
	counters [numCounters]atomic.Int64
	faults   atomic.Pointer[activeFaults]
	draws    atomic.Uint64 // fault draws so far

	client    *http.Client
	ownClient bool
	callbacks *dispatcher

	ctx       context.Context // done when Close is called
	stop      context.CancelFunc
	wg        sync.WaitGroup // the scheduler and the delivery workers
	hangMu    sync.Mutex
	closed    bool
	hangs     sync.WaitGroup // handlers held by a "hang" fault
	closeOnce sync.Once
}

// New returns a running Server: its callback scheduler and delivery workers
// are started and stopped by Close. New panics if a Catalog service's
// validazione does not parse, two services share a hash, or Profile or Echo
// is not one of their constants, as regexp.MustCompile does for a bad
// pattern: these are code, not input (Profile and Echo check text input in
// UnmarshalText).
func New(cfg Config) *Server {
	if err := cfg.Profile.UnmarshalText([]byte(cfg.Profile)); err != nil {
		panic("sim: " + err.Error())
	}
	if err := cfg.Echo.UnmarshalText([]byte(cfg.Echo)); err != nil {
		panic("sim: " + err.Error())
	}
	services := cfg.Catalog
	if services == nil {
		services = catalogFor(cfg.Profile)
	}
	cat, err := compileCatalog(services)
	if err != nil {
		panic(err)
	}
	s := &Server{
		token: cfg.Token, step: cfg.Step, lifetime: cfg.Lifetime, cancelRate: min(max(cfg.CancelRate, 0), 1),
		owner: cfg.Owner, seed: uint64(cfg.Seed), now: cfg.Now, cat: cat,
		profile: cmp.Or(cfg.Profile, ProfileFriendly), echo: cfg.Echo.Resolve(cfg.Profile),
		store: newStore(), ids: newIDGen(cfg.Seed), client: cfg.HTTPClient,
		accountEmail: cfg.AccountEmail, accountAPIKey: cfg.AccountAPIKey,
	}
	s.applyDefaults(cfg)
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.callbacks = newDispatcher(s)
	s.callbacks.start(s.ctx, &s.wg)
	return s
}

func (s *Server) applyDefaults(cfg Config) {
	if s.step <= 0 {
		s.step = 2 * time.Second
	}
	if s.owner == "" {
		s.owner = "sandbox@example.com"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: callbackWorkers}}
		s.ownClient = true
	}
	wallet := cfg.Wallet
	if wallet == 0 {
		wallet = 1000
	}
	s.ledger = newLedger(cents(wallet), s.now(), cfg.Seed)
	s.SetFaults(cfg.Faults)
}

// Close stops every goroutine the Server owns (the callback scheduler and
// workers; pending callbacks are dropped), releases handlers held by a "hang"
// fault, and waits for all of them. The handler keeps answering afterwards,
// without callbacks. Close is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.hangMu.Lock()
		s.closed = true
		s.hangMu.Unlock()
		s.stop()
		s.wg.Wait()
		s.hangs.Wait()
		if s.ownClient {
			s.client.CloseIdleConnections()
		}
	})
}

// ServeHTTP serves the API, and the admin knobs under /_sim/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveAdmin(w, r)
		return
	}
	ep, param, rerr := route(r.Method, r.URL.Path)
	if rerr != nil {
		writeError(w, *rerr)
		return
	}
	s.counters[ep].Add(1)
	if e := s.authenticate(ep, r); e != nil {
		writeError(w, *e)
		return
	}
	var sh shape
	if f := s.faults.Load(); f != nil {
		if s.inject(w, r, f, ep) {
			return
		}
		sh = f.shapes.draw(ep, s.chance)
	}
	if sh.preamble != "" || sh.pad > 0 {
		w = &shapedWriter{ResponseWriter: w, preamble: sh.preamble, pad: sh.pad}
	}
	s.handle(ep, w, r, param, sh)
}

func (s *Server) handle(ep endpoint, w http.ResponseWriter, r *http.Request, param string, sh shape) {
	switch ep {
	case epListVisure:
		writeBody(w, http.StatusOK, s.cat.list)
	case epGetVisura:
		s.getVisura(w, param)
	case epListRequests:
		s.listRequests(w, sh)
	case epCreate:
		s.create(w, r, sh)
	case epGetRequest:
		s.getRequest(w, param, sh)
	case epUpdate:
		s.update(w, r, param, sh)
	case epDelete:
		s.cancel(w, r, param, sh)
	case epSearch:
		s.search(w, param)
	case epChoose:
		s.choose(w, param)
	case epDocument:
		s.document(w, param, sh)
	case epWallet:
		s.getWallet(w, sh)
	case epTransactions:
		s.listTransactions(w, r, sh)
	}
}

// authenticate checks a call's credentials: HTTP Basic for the account API,
// the bearer token for Visengine. Each refuses the other's.
func (s *Server) authenticate(ep endpoint, r *http.Request) *apiError {
	switch {
	case ep.account() && !s.accountAuthorized(r):
		return &apiError{http.StatusUnauthorized, codeAccountUnauthorized, "Unauthorized"}
	case !ep.account() && !s.authorized(r):
		return &apiError{http.StatusUnauthorized, codeUnauthorized, "Unauthorized: missing or invalid bearer token"}
	}
	return nil
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") || s.token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[7:])), []byte(s.token)) == 1
}

// Counters returns the calls per endpoint key and the "created", "charged",
// "callbacks" and "callback_failures" counts since New or the last reset.
func (s *Server) Counters() map[string]int {
	m := make(map[string]int, numCounters)
	for i := range s.counters {
		m[counterName(i)] = int(s.counters[i].Load())
	}
	return m
}

// ResetCounters zeroes every counter.
func (s *Server) ResetCounters() {
	for i := range s.counters {
		s.counters[i].Store(0)
	}
}

// SetWallet sets the balance, in euro (rounded to the cent), recording the
// difference as a transaction: "Wallet recharge" when it grows, "Wallet
// adjustment" when it shrinks.
func (s *Server) SetWallet(euro float64) { s.ledger.set(cents(euro), s.now()) }

// Wallet returns the balance in euro.
func (s *Server) Wallet() float64 { return float64(s.ledger.funds()) / 100 }

// charge takes c cents from the wallet if it holds them, recording the
// charge at at for the request whose id request returns (see ledger.debit);
// otherwise it returns false and the balance.
func (s *Server) charge(c int64, at time.Time, request func() string) (int64, bool) {
	b, ok := s.ledger.debit(c, at, request)
	if ok {
		s.counters[cCharged].Add(1)
	}
	return b, ok
}

// SetFaults replaces the active faults and restarts their Next counts. Values
// out of range are normalized (see compileFaults); Faults.Validate reports them.
func (s *Server) SetFaults(f Faults) { s.faults.Store(compileFaults(f)) }

// Faults returns the active faults, with Next showing what is left.
func (s *Server) Faults() Faults { return s.faults.Load().snapshot() }

// chance draws the next fault number in [0, 1), deterministic in sequence.
func (s *Server) chance() float64 {
	return unitFloat(splitmix(s.seed ^ 0x5eed_fa17 + s.draws.Add(1)))
}

// doomed decides, from the seed and creation order alone, whether request seq
// ends Annullata, and which cancellation reason it gets.
// pace sets a submitted request's Lifetime, when one is configured.
func (s *Server) pace(rec *record) {
	if s.lifetime == nil || rec.life.submitted.IsZero() {
		return
	}
	ready, done := s.lifetime(rec.svc.Hash, rec.life.submitted, rec.seq)
	done = max(done, 1)
	rec.life.ready, rec.life.done = min(max(ready, 0), done), done
}

func (s *Server) doomed(seq uint64) (bool, int) {
	x := splitmix(s.seed ^ 0xd00d + seq)
	return s.cancelRate > 0 && unitFloat(x) < s.cancelRate, int(x & 0xff)
}
