package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"

	"github.com/iseed-dev/iseed/visengine"
)

// Upstream is what the cache reads schemas from: the Visengine client.
type Upstream interface {
	Visure(ctx context.Context) ([]visengine.VisuraSummary, error)
	Visura(ctx context.Context, hash string) (*visengine.Visura, error)
}

// Cache defaults.
const (
	DefaultTTL          = 24 * time.Hour
	DefaultRetryStale   = time.Minute
	DefaultFetchTimeout = 30 * time.Second
	// DefaultCatalogRecheck is how old the catalog may be before a hash it
	// does not list makes the cache read it again.
	DefaultCatalogRecheck = time.Minute
	kvTimeout             = 5 * time.Second // one KV read or write
)

// CacheConfig configures a Cache. Zero durations take the defaults.
type CacheConfig struct {
	TTL time.Duration // how long an entry is fresh; default 24 h
	// RetryStale is how long a stale entry is served without asking the
	// upstream again after the upstream failed; default 1 minute.
	RetryStale time.Duration
	// FetchTimeout bounds one upstream fetch, which is shared by every
	// caller waiting for it; default 30 s.
	FetchTimeout time.Duration
	// CatalogRecheck is how old the catalog may be before a hash it does
	// not list makes the cache read the catalog again; read less long
	// ago, the hash is an unknown service, with no upstream call. Default
	// 1 minute.
	CatalogRecheck time.Duration
	Logger         zerolog.Logger
	Now            func() time.Time // default time.Now
}

// Cache serves service schemas and the catalog from memory, then from a
// JetStream KV bucket shared by every replica, then from the upstream.
// Concurrent misses for one key make one upstream call. While the upstream
// is down, an expired entry is served and the failure logged.
type Cache struct {
	up    Upstream
	kv    jetstream.KeyValue // nil: memory and upstream only
	cfg   CacheConfig
	log   zerolog.Logger
	group singleflight.Group

	mu  sync.Mutex
	mem map[string]*entry // by KV key
	// recheckFailed is when recheck last failed to read the catalog, and
	// why: it does not try again for CatalogRecheck.
	recheckFailed    time.Time
	recheckFailedErr error
}

// entry is one cached answer.
type entry struct {
	val     any // *Service or []visengine.VisuraSummary
	fetched time.Time
	retryAt time.Time // served without asking the upstream until then, after a failure
}

// NewCache returns a cache over up and kv (kv may be nil).
func NewCache(up Upstream, kv jetstream.KeyValue, cfg CacheConfig) *Cache {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.RetryStale <= 0 {
		cfg.RetryStale = DefaultRetryStale
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.CatalogRecheck <= 0 {
		cfg.CatalogRecheck = DefaultCatalogRecheck
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{
		up:  up,
		kv:  kv,
		cfg: cfg,
		log: cfg.Logger.With().Str("component", "schema").Logger(),
		mem: make(map[string]*entry),
	}
}

// Service returns the compiled schema of a service named by its catalog
// name (case-insensitive) or its hash. An unknown service is an error
// wrapping ErrUnknownService; a schema that cannot be used is a
// *SchemaError; other errors keep the upstream's *visengine.Error.
func (c *Cache) Service(ctx context.Context, nameOrHash string) (*Service, error) {
	key := strings.TrimSpace(nameOrHash)
	if key == "" {
		return nil, fmt.Errorf("%w: no name or hash given", ErrUnknownService)
	}
	if e := c.fresh(serviceKey(key)); e != nil {
		return e.val.(*Service), nil
	}
	hash, listed, catErr := c.resolve(ctx, key)
	if catErr == nil && !listed {
		// A name or a hash the catalog does not list: a service added since
		// the catalog was read, or anything a tenant wrote. A hash asked for
		// itself cost a call of the upstream budget every tenant shares, for
		// free (it is rejected, nothing paid), and a tenant publishing
		// made-up hashes delayed every other tenant's requests; a name taken
		// from the catalog alone was rejected for a day. The catalog is read
		// again instead, at most once a CatalogRecheck whatever the number
		// of keys.
		hash, listed, catErr = c.recheck(ctx, key)
		if catErr != nil && !errors.Is(catErr, errAmbiguousName) && !maybeHash(key) {
			catErr = nil // not read again: the catalog held lists no such name
		}
	}
	if errors.Is(catErr, errAmbiguousName) {
		return nil, fmt.Errorf("%w: %s %w", ErrUnknownService, serviceText(key), catErr)
	}
	if catErr == nil && !listed && !maybeHash(key) {
		// The catalog names no such service and key cannot be a hash: no
		// need to ask the upstream (whoever publishes garbage names must not
		// spend the upstream's budget).
		return nil, fmt.Errorf("%w: %q is neither a catalog name nor a hash_visura", ErrUnknownService, truncate(key, 64))
	}
	if catErr == nil && !listed {
		return nil, fmt.Errorf("%w: %s is not in the catalog", ErrUnknownService, serviceText(key))
	}
	v, err := c.get(ctx, c.serviceSource(hash))
	if errors.Is(err, ErrUnknownService) && catErr == nil {
		// The catalog lists the service under a hash the upstream no longer
		// knows: it was read before the service was published under another
		// hash. Read again (at most once a CatalogRecheck), it names the
		// service's hash now; without this, every submission naming the
		// service was rejected unknown_service until the catalog expired.
		if again, ok, rerr := c.recheck(ctx, key); rerr == nil && ok && again != hash {
			v, err = c.get(ctx, c.serviceSource(again))
		}
	}
	if errors.Is(err, ErrUnknownService) && catErr != nil && (upstreamDown(catErr) || !maybeHash(key)) {
		// Without the catalog a name was tried as a hash: that it is no hash
		// says nothing about the service, whatever kept the catalog away (a
		// refusal, which the API publishes none of for GET /visure, too).
		// A key that can be a hash was answered about itself; while the
		// catalog is down, that too is transient, like the catalog's error.
		return nil, fmt.Errorf("resolve service %s: the catalog is unavailable: %w", serviceText(key), catErr)
	}
	if err != nil {
		return nil, err
	}
	return v.(*Service), nil
}

// Catalog returns the catalog (GET /visure). The slice is the caller's.
func (c *Cache) Catalog(ctx context.Context) ([]visengine.VisuraSummary, error) {
	v, err := c.get(ctx, c.catalogSource())
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]visengine.VisuraSummary)), nil
}

// maybeHash reports whether s could be a hash_visura missing from a cached
// catalog: 32 letters and digits (hashes are opaque, not always hex).
// serviceText names a submission's service in an error: a hash as it is,
// anything else (whatever a tenant wrote, possibly a person's name) by its
// length only, since errors are logged and end up in dead letters.
func serviceText(s string) string {
	if maybeHash(s) {
		return s
	}
	return fmt.Sprintf("(a name of %d bytes)", len(s))
}

func maybeHash(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// resolve maps a catalog name to its hash; listed says whether the
// catalog has the service. Anything else, or any name when the catalog
// cannot be had (the error is returned beside it), is taken as a hash. A
// name that matches no service exactly and several without regard to case
// is errAmbiguousName.
func (c *Cache) resolve(ctx context.Context, key string) (hash string, listed bool, err error) {
	cat, err := c.Catalog(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn().Err(err).Msg("catalog unavailable: taking the service name as a hash")
		}
		return key, false, err
	}
	for _, s := range cat {
		if s.HashVisura == key {
			return key, true, nil
		}
	}
	// The exact name first: a catalog may list two services whose names
	// differ only in case, and the first of them matched without regard to
	// case is not the one asked for.
	for _, s := range cat {
		if strings.TrimSpace(s.NomeVisura) == key {
			return s.HashVisura, true, nil
		}
	}
	hash, listed = key, false
	for _, s := range cat {
		if !strings.EqualFold(strings.TrimSpace(s.NomeVisura), key) {
			continue
		}
		if listed && s.HashVisura != hash {
			return key, true, errAmbiguousName
		}
		hash, listed = s.HashVisura, true
	}
	return hash, listed, nil
}

// recheck resolves key, a hash the catalog does not list, in a catalog
// read from the upstream less than CatalogRecheck ago: the one in memory,
// or one read now (once for every concurrent caller). An error says the
// catalog could not be read again, now or in the last CatalogRecheck; the
// caller then asks for the hash, as without a catalog.
func (c *Cache) recheck(ctx context.Context, key string) (hash string, listed bool, err error) {
	ch := c.group.DoChan(recheckKey, func() (any, error) {
		now := c.cfg.Now()
		if e := c.cached(catalogKey); e != nil && now.Before(e.fetched.Add(c.cfg.CatalogRecheck)) {
			return nil, nil
		}
		if at, err := c.lastRecheckFailure(); err != nil && now.Before(at.Add(c.cfg.CatalogRecheck)) {
			return nil, err // the upstream is not asked twice a minute for it
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
		defer cancel()
		src := c.catalogSource()
		val, data, err := src.fetch(fctx)
		if err != nil {
			c.noteRecheckFailure(now, err)
			return nil, err
		}
		e := &entry{val: val, fetched: c.cfg.Now()}
		c.store(src.key, e)
		c.toKV(fctx, src.key, e.fetched, data)
		return nil, nil
	})
	select {
	case <-ctx.Done():
		return key, false, fmt.Errorf("schema: catalog: %w", ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return key, false, r.Err
		}
	}
	return c.resolve(ctx, key)
}

func (c *Cache) lastRecheckFailure() (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recheckFailed, c.recheckFailedErr
}

func (c *Cache) noteRecheckFailure(at time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recheckFailed, c.recheckFailedErr = at, err
}

// recheckKey is recheck's singleflight key: no bucket key has a space.
const recheckKey = "catalog recheck"

// errAmbiguousName reports a name that, without regard to case, names more
// than one service of the catalog and none exactly.
var errAmbiguousName = errors.New("names several services of the catalog, in other cases: use the exact name or the hash_visura")

// source describes one cacheable answer.
type source struct {
	key         string // KV and memory key
	what        string // for messages: "catalog", "service <hash>"
	mayBeAbsent bool   // a not-found answer means an unknown service
	fetch       func(ctx context.Context) (val any, data []byte, err error)
	decode      func(data []byte) (any, error)
}

func (c *Cache) serviceSource(hash string) source {
	return source{
		key:         serviceKey(hash),
		what:        "service " + serviceText(hash),
		mayBeAbsent: true,
		fetch: func(ctx context.Context) (any, []byte, error) {
			v, err := c.up.Visura(ctx, hash)
			if err != nil {
				return nil, nil, err
			}
			if strings.TrimSpace(v.HashVisura) == "" {
				if len(v.JSONStruttura.Campi) == 0 {
					// "data": {}: a broken answer, not a service without
					// input. Not cached; the next use asks again.
					return nil, nil, fmt.Errorf("service %s: the answer names no service and no field", hash)
				}
				v.HashVisura = hash
			}
			s, err := Compile(v)
			if err != nil {
				return nil, nil, err
			}
			data, err := json.Marshal(v)
			return s, data, err
		},
		decode: func(data []byte) (any, error) { return Parse(data) },
	}
}

func (c *Cache) catalogSource() source {
	return source{
		key:  catalogKey,
		what: "catalog",
		fetch: func(ctx context.Context) (any, []byte, error) {
			list, err := c.up.Visure(ctx)
			if err != nil {
				return nil, nil, err
			}
			if len(list) == 0 {
				// An account with the API has services: cached, an empty
				// catalog would refuse every name for a day. Unavailable
				// instead, so a name is retried, never rejected.
				return nil, nil, errors.New("the catalog lists no service")
			}
			data, err := json.Marshal(list)
			return list, data, err
		},
		decode: func(data []byte) (any, error) {
			var list []visengine.VisuraSummary
			err := json.Unmarshal(data, &list)
			return list, err
		},
	}
}

// get returns a fresh entry from memory, or loads it once for every
// concurrent caller.
func (c *Cache) get(ctx context.Context, src source) (any, error) {
	if e := c.fresh(src.key); e != nil {
		return e.val, nil
	}
	ch := c.group.DoChan(src.key, func() (any, error) { return c.load(ctx, src) })
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("schema: %s: %w", src.what, ctx.Err())
	case r := <-ch:
		return r.Val, r.Err
	}
}

// load runs once per key at a time: memory again, then the KV bucket, then
// the upstream. It outlives a cancelled first caller (the others still
// wait for it) but not FetchTimeout.
func (c *Cache) load(parent context.Context, src source) (any, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), c.cfg.FetchTimeout)
	defer cancel()
	if e := c.fresh(src.key); e != nil {
		return e.val, nil // a load that just ended
	}
	stale := c.cached(src.key)
	if e := c.fromKV(ctx, src); e != nil {
		if c.isFresh(e) {
			c.store(src.key, e)
			return e.val, nil
		}
		if stale == nil || e.fetched.After(stale.fetched) {
			stale = e
		}
	}
	val, data, err := src.fetch(ctx)
	if err != nil {
		return c.failed(src, stale, err)
	}
	e := &entry{val: val, fetched: c.cfg.Now()}
	c.store(src.key, e)
	c.toKV(ctx, src.key, e.fetched, data)
	return val, nil
}

// failed decides what an upstream failure means: an unknown service, a
// stale entry to serve while the upstream is down, or an error.
func (c *Cache) failed(src source, stale *entry, err error) (any, error) {
	switch {
	case src.mayBeAbsent && unknownService(err):
		c.forget(src.key)
		return nil, fmt.Errorf("%w: %s: %w", ErrUnknownService, src.what, err)
	case upstreamDown(err) && stale != nil:
		now := c.cfg.Now()
		c.log.Warn().Err(err).Str("key", keyText(src.key)).Dur("age_ms", now.Sub(stale.fetched)).
			Msg("upstream unavailable: serving an expired schema")
		served := &entry{val: stale.val, fetched: stale.fetched, retryAt: now.Add(c.cfg.RetryStale)}
		c.store(src.key, served)
		return served.val, nil
	}
	return nil, fmt.Errorf("schema: %s: %w", src.what, err)
}

// unknownService reports whether the upstream said the service does not
// exist: 404, or 400 "wrong hash_visura" (code 200). Another 400 (a
// gateway's, a code the API does not publish for this call) says nothing
// about the service: taken for "unknown" it would reject submissions and
// drop the schema of a service that exists.
func unknownService(err error) bool {
	var e *visengine.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Class == visengine.ClassNotFound ||
		e.Class == visengine.ClassPermanent && e.Code == codeWrongHash
}

// codeWrongHash is the API's error code for "wrong hash_visura" (GET
// /visure/{hash}, HTTP 400).
const codeWrongHash = 200

// upstreamDown reports whether err means the upstream could not answer:
// retryable, throttled or ambiguous failures, or errors from outside the
// client (network, timeouts).
func upstreamDown(err error) bool {
	switch visengine.ClassOf(err) {
	case 0, visengine.ClassRetryable, visengine.ClassThrottled, visengine.ClassAmbiguous:
		var se *SchemaError
		return !errors.As(err, &se)
	}
	return false
}

func (c *Cache) isFresh(e *entry) bool {
	now := c.cfg.Now()
	return now.Before(e.fetched.Add(c.cfg.TTL)) || now.Before(e.retryAt)
}

// fresh returns the memory entry for key if it is fresh.
func (c *Cache) fresh(key string) *entry {
	if e := c.cached(key); e != nil && c.isFresh(e) {
		return e
	}
	return nil
}

func (c *Cache) cached(key string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mem[key]
}

func (c *Cache) store(key string, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mem[key] = e
}

// Invalidate drops a service's cached schema, here and in the bucket, so
// that the next lookup asks the upstream: for when the upstream refused
// input the cached schema accepted (the service changed). Other replicas
// drop their memory copy when it expires.
func (c *Cache) Invalidate(ctx context.Context, hash string) error {
	key := serviceKey(hash)
	c.forget(key)
	if c.kv == nil {
		return nil
	}
	if err := c.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("schema: invalidate %s: %w", hash, err)
	}
	return nil
}

func (c *Cache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mem, key)
}

// fromKV reads an entry from the bucket; nil when absent or unusable (a
// bucket failure is logged: the upstream is asked instead).
func (c *Cache) fromKV(ctx context.Context, src source) *entry {
	if c.kv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	r, err := kvGet(ctx, c.kv, src.key)
	if err == nil && r != nil {
		var val any
		if val, err = src.decode(r.Data); err == nil {
			return &entry{val: val, fetched: r.fetched()}
		}
	}
	if err != nil {
		c.log.Warn().Err(err).Str("key", keyText(src.key)).Msg("schema bucket unreadable: asking the upstream")
	}
	return nil
}

// toKV writes an entry to the bucket; a failure is logged, not returned:
// the answer is good, only sharing it failed.
func (c *Cache) toKV(ctx context.Context, key string, fetched time.Time, data []byte) {
	if c.kv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	if err := kvPut(ctx, c.kv, key, &record{V: recordVersion, FetchedAt: fetched, Data: data}); err != nil {
		c.log.Warn().Err(err).Str("key", keyText(key)).Msg("schema bucket not written")
	}
}
