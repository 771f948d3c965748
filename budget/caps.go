package budget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// Scope is what caps apply to: the whole account (the zero Scope), one
// tenant, or every tenant by default (TenantDefault).
type Scope struct {
	Tenant  string // "" for the account and the default
	Default bool   // the caps of every tenant that does not set its own
}

// Account is the scope of the whole Openapi account.
func Account() Scope { return Scope{} }

// Tenant is the scope of one tenant.
func Tenant(name string) Scope { return Scope{Tenant: name} }

// TenantDefault is the scope of the default tenant caps: each of them
// applies to every tenant that does not set that cap itself (Caps.Or), a
// tenant seen for the first time included. It counts nothing of its own:
// each tenant's usage counts against its caps, its own or the default's.
// It is what keeps a tenant nobody set caps for from spending the whole
// wallet, which every tenant pays from.
func TenantDefault() Scope { return Scope{Default: true} }

// IsAccount reports whether s is the account scope.
func (s Scope) IsAccount() bool { return s.Tenant == "" && !s.Default }

// String returns "account", "tenant-default" or "tenant:<name>", the form
// ParseScope reads.
func (s Scope) String() string {
	switch {
	case s.Default:
		return "tenant-default"
	case s.IsAccount():
		return "account"
	}
	return "tenant:" + s.Tenant
}

// ParseScope reads "account", "tenant-default" or "tenant:<name>".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "account":
		return Account(), nil
	case "tenant-default":
		return TenantDefault(), nil
	}
	name, ok := strings.CutPrefix(s, "tenant:")
	if !ok || !record.ValidToken(name) {
		return Scope{}, fmt.Errorf("budget: scope %q: want \"account\", \"tenant-default\" or \"tenant:<name>\" (name: 1-%d of A-Z a-z 0-9 _ -)", s, record.MaxIDLen)
	}
	return Tenant(name), nil
}

func (s Scope) valid() bool {
	if s.Default {
		return s.Tenant == ""
	}
	return s.IsAccount() || record.ValidToken(s.Tenant)
}

// kind is the scope's name in keys and codes: "account" or "tenant".
func (s Scope) kind() string {
	if s.IsAccount() {
		return "account"
	}
	return "tenant"
}

// capsKey is the scope's key in the caps bucket: "account",
// "tenant_default" (no tenant's key: a tenant's has a dot) or
// "tenant.<name>".
func (s Scope) capsKey() string {
	switch {
	case s.Default:
		return "tenant_default"
	case s.IsAccount():
		return "account"
	}
	return "tenant." + s.Tenant
}

// ScopeOfCapsKey returns the scope whose caps a key of the caps bucket
// holds ("account", "tenant_default", "tenant.<name>"); ok is false for
// any other key. With DecodeCaps it lets a watcher of the bucket (the
// pipeline's caps view) read it by this package's rules.
func ScopeOfCapsKey(key string) (Scope, bool) {
	switch key {
	case "account":
		return Account(), true
	case "tenant_default":
		return TenantDefault(), true
	}
	name, ok := strings.CutPrefix(key, "tenant.")
	return Tenant(name), ok && record.ValidToken(name)
}

// usageKey is the key of the scope's usage in a month ("2006-01"):
// "account.<month>" or "tenant.<name>.<month>".
func (s Scope) usageKey(month string) string { return s.capsKey() + "." + month }

// Caps are the limits of one scope. A zero field is no cap; both a euro
// cap and a request cap of a period apply when both are set.
type Caps struct {
	DailyEUR        money.Cents `json:"daily_eur,omitzero"`
	MonthlyEUR      money.Cents `json:"monthly_eur,omitzero"`
	DailyRequests   int64       `json:"daily_requests,omitzero"`
	MonthlyRequests int64       `json:"monthly_requests,omitzero"`
	// Paused holds every submission of the scope (a tenant, or the
	// account: every tenant) whatever the limits say, until Resume. It is
	// an operator's act (Pause), not a limit: Set, Delete and a caps file
	// keep it as it is, and the default tenant caps have none.
	Paused bool `json:"paused,omitzero"`
}

// IsZero reports whether c caps nothing.
func (c Caps) IsZero() bool { return c == Caps{} }

// Or returns c with each cap it does not set (zero) taken from def: a
// tenant's own caps over the default tenant caps, cap by cap.
func (c Caps) Or(def Caps) Caps {
	or := func(v, d int64) int64 {
		if v == 0 {
			return d
		}
		return v
	}
	return Caps{
		DailyEUR:        money.Cents(or(int64(c.DailyEUR), int64(def.DailyEUR))),
		MonthlyEUR:      money.Cents(or(int64(c.MonthlyEUR), int64(def.MonthlyEUR))),
		DailyRequests:   or(c.DailyRequests, def.DailyRequests),
		MonthlyRequests: or(c.MonthlyRequests, def.MonthlyRequests),
		Paused:          c.Paused, // the default tenant caps pause nobody
	}
}

// Validate refuses negative caps and euro caps above money.Max.
func (c Caps) Validate() error {
	if c.DailyEUR < 0 || c.MonthlyEUR < 0 || c.DailyRequests < 0 || c.MonthlyRequests < 0 {
		return fmt.Errorf("budget: caps must not be negative (0 means no cap): %+v", c)
	}
	if c.DailyEUR > money.Max || c.MonthlyEUR > money.Max {
		return fmt.Errorf("budget: euro caps must not exceed %s", money.Max)
	}
	return nil
}

// Setting is the caps of one scope.
type Setting struct {
	Scope Scope
	Caps  Caps
}

// Set stores the caps of s, replacing earlier ones; zero caps delete them.
// Reservations that start after Set returns are checked against them;
// what was counted stays counted, even above a lowered cap. A pause of s
// stays as it is (c.Paused is not read): only Resume ends it.
func (b *Budgets) Set(ctx context.Context, s Scope, c Caps) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return b.change(ctx, s, "set caps", func(cur Caps) Caps {
		c.Paused = cur.Paused
		return c
	})
}

// ErrDefaultNotPaused refuses a pause of the default tenant caps: pause a
// tenant, or the account (every tenant).
var ErrDefaultNotPaused = errors.New("budget: the default tenant caps cannot be paused: pause a tenant, or the account (every tenant)")

// Pause holds every submission of s from now on, whatever its caps say:
// a tenant's, or with the account every tenant's. A submission already
// past its reservation goes on; the others are held as they are
// delivered (code tenant_paused or account_paused), without an upstream
// call, and wait for Resume in the order they came. Its caps stay as they
// are, and Set keeps the pause.
func (b *Budgets) Pause(ctx context.Context, s Scope) error {
	if s.Default {
		return ErrDefaultNotPaused
	}
	return b.change(ctx, s, "pause", func(cur Caps) Caps {
		cur.Paused = true
		return cur
	})
}

// Resume ends a pause of s: its held submissions go again, oldest first,
// as their caps allow. Resuming a scope not paused changes nothing.
func (b *Budgets) Resume(ctx context.Context, s Scope) error {
	return b.change(ctx, s, "resume", func(cur Caps) Caps {
		cur.Paused = false
		return cur
	})
}

// change rewrites the caps of s as fn says, by compare-and-set: a pause
// and a Set of the same scope at once (two operators, a caps file applied
// as a replica starts) must not undo each other. Zero caps delete the key.
// A lost compare-and-set is tried again after a short random wait, until
// the timeout.
func (b *Budgets) change(ctx context.Context, s Scope, what string, fn func(cur Caps) Caps) error {
	if !s.valid() {
		return fmt.Errorf("budget: invalid scope %q", s)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	key := s.capsKey()
	for {
		var cur Caps
		var rev uint64
		switch e, err := b.caps.Get(ctx, key); {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("budget: %s of %s: %w", what, s, err)
		default:
			cur, _ = DecodeCaps(e.Value()) // a value that cannot be read is replaced whole
			rev = e.Revision()
		}
		err := b.write(ctx, key, fn(cur), rev)
		if !isWrongRevision(err) {
			if err != nil {
				return fmt.Errorf("budget: %s of %s: %w", what, s, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("budget: %s of %s: the caps kept changing concurrently: %w", what, s, ctx.Err())
		case <-time.After(time.Duration(1+rand.IntN(10)) * time.Millisecond):
		}
	}
}

// write stores c under key if its revision is still rev (0: absent, or
// deleted); zero caps delete the key (and absent, write nothing). The same
// caps written again are a change all the same: a watcher of the caps
// (the holds pass) looks again.
func (b *Budgets) write(ctx context.Context, key string, c Caps, rev uint64) error {
	if c.IsZero() {
		if rev == 0 {
			return nil
		}
		return b.caps.Delete(ctx, key, jetstream.LastRevision(rev))
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode caps: %w", err)
	}
	if rev == 0 {
		_, err = b.caps.Create(ctx, key, v)
	} else {
		_, err = b.caps.Update(ctx, key, v, rev)
	}
	return err
}

// isWrongRevision reports a compare-and-set lost to another writer.
func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant))
}

// Get returns the caps of s; zero caps when none are set.
func (b *Budgets) Get(ctx context.Context, s Scope) (Caps, error) {
	if !s.valid() {
		return Caps{}, fmt.Errorf("budget: invalid scope %q", s)
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	e, err := b.caps.Get(ctx, s.capsKey())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Caps{}, nil
	}
	if err != nil {
		return Caps{}, fmt.Errorf("budget: caps of %s: %w", s, err)
	}
	c, err := DecodeCaps(e.Value())
	if err != nil {
		return Caps{}, fmt.Errorf("budget: decode caps of %s: %w", s, err)
	}
	return c, nil
}

// DecodeCaps decodes a value of the caps bucket, as iseed writes it: its
// keys spelt exactly so, each once (exactKeys).
func DecodeCaps(b []byte) (Caps, error) {
	var c Caps
	if err := decodeStrict(b, &c); err != nil {
		return Caps{}, err
	}
	if err := exactKeys(b, &c); err != nil {
		return Caps{}, err
	}
	return c, c.Validate()
}

// decodeStrict decodes a value iseed wrote: one JSON object of v's fields
// and nothing else. A value anyone else put there (an empty one, a
// server's answer) is an error, never zero caps or zero usage, which would
// let money through.
func decodeStrict(b []byte, v any) error {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the value")
	}
	return nil
}

// Delete removes the caps of s: no cap any more. Deleting caps that are
// not set is not an error. A pause of s stays.
func (b *Budgets) Delete(ctx context.Context, s Scope) error {
	return b.change(ctx, s, "delete caps", func(cur Caps) Caps { return Caps{Paused: cur.Paused} })
}

// List returns every scope with caps, the account first, then the
// default tenant caps, then tenants by name. A tenant's caps are as set,
// without the default's.
func (b *Budgets) List(ctx context.Context) ([]Setting, error) {
	var out []Setting
	if err := bucket.Keys(ctx, b.caps, func(key string) error {
		s, ok := ScopeOfCapsKey(key)
		if !ok {
			return nil
		}
		c, err := b.Get(ctx, s)
		if err != nil {
			return err
		}
		if !c.IsZero() {
			out = append(out, Setting{Scope: s, Caps: c})
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("budget: list caps: %w", err)
	}
	slices.SortFunc(out, func(x, y Setting) int { return strings.Compare(x.Scope.sortKey(), y.Scope.sortKey()) })
	return out, nil
}

// PausedScopes returns the scopes paused (Pause), as List orders them and
// Scope.String names them: "account", "tenant:<name>".
func (b *Budgets) PausedScopes(ctx context.Context) ([]string, error) {
	settings, err := b.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range settings {
		if s.Caps.Paused {
			out = append(out, s.Scope.String())
		}
	}
	return out, nil
}

// sortKey orders scopes: the account, the default, tenants by name.
func (s Scope) sortKey() string {
	switch {
	case s.IsAccount():
		return "0"
	case s.Default:
		return "1"
	}
	return "2" + s.Tenant
}

// File is the start-up caps file:
//
//	{"account": {"daily_eur": 500},
//	 "tenant_default": {"daily_eur": 100},
//	 "tenants": {"acme": {"monthly_eur": 2000, "daily_requests": 100}}}
//
// Euro amounts are numbers or strings ("11,70"); fields are daily_eur,
// monthly_eur, daily_requests and monthly_requests.
type File struct {
	Account       Caps            `json:"account"`
	TenantDefault Caps            `json:"tenant_default"`
	Tenants       map[string]Caps `json:"tenants"`
}

// ParseFile reads a caps file. Unknown fields are refused: in a file
// someone wrote by hand they are typos. So are keys spelt in another case
// ("Daily_EUR") and keys given twice (exactKeys), euro amounts written as
// strings other than digits with at most two decimals after a point or a
// comma (fileEuros), and numbers that are not whole cents (wholeCents).
func ParseFile(r io.Reader) (File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return File{}, fmt.Errorf("budget: caps file: %w", err)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return File{}, fmt.Errorf("budget: caps file: %w", err)
	}
	// A second object (a file appended to) or a stray brace is not a file
	// of caps: applying the first object alone would pass the rest by.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return File{}, errors.New("budget: caps file: data after the caps object")
	}
	// Before the amounts: checkFileEuros reads them by their keys.
	if err := exactKeys(data, &f); err != nil {
		return File{}, fmt.Errorf("budget: caps file: %w", err)
	}
	if err := checkFileEuros(data); err != nil {
		return File{}, fmt.Errorf("budget: caps file: %w", err)
	}
	if f.Account.Paused || f.TenantDefault.Paused || slices.ContainsFunc(slices.Collect(maps.Values(f.Tenants)), func(c Caps) bool { return c.Paused }) {
		// A file applied at every start would pause again what an
		// operator resumed, and its absence could not resume anything.
		return File{}, errors.New("budget: caps file: paused is not a cap: pause and resume with iseed budget pause and iseed budget resume")
	}
	if err := f.Account.Validate(); err != nil {
		return File{}, fmt.Errorf("budget: caps file: account: %w", err)
	}
	if err := f.TenantDefault.Validate(); err != nil {
		return File{}, fmt.Errorf("budget: caps file: tenant_default: %w", err)
	}
	for name, c := range f.Tenants {
		if !record.ValidToken(name) {
			return File{}, fmt.Errorf("budget: caps file: tenant %q: want 1-%d of A-Z a-z 0-9 _ -", name, record.MaxIDLen)
		}
		if err := c.Validate(); err != nil {
			return File{}, fmt.Errorf("budget: caps file: tenant %s: %w", name, err)
		}
	}
	return f, nil
}

// fileEuros is how a person writes euros as a string in the caps file, as
// iseed budget set takes them: digits, and at most two decimals after a
// point or a comma ("1500", "499,90"). money.Parse reads "1.500" and
// "1,500" as 1.50, where an Italian operator means 1500: a cap a
// thousand times too low, which would hold every submission. JSON
// numbers are not strings, and mean what they say.
var fileEuros = regexp.MustCompile(`^[0-9]+([.,][0-9]{1,2})?$`)

// checkFileEuros refuses euro amounts of a caps file written as strings
// that fileEuros does not match. data has decoded as a File already, its
// keys spelt exactly (exactKeys).
func checkFileEuros(data []byte) error {
	type caps map[string]json.RawMessage
	var raw struct {
		Account       caps            `json:"account"`
		TenantDefault caps            `json:"tenant_default"`
		Tenants       map[string]caps `json:"tenants"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	check := func(scope string, c caps) error {
		for _, field := range []string{"daily_eur", "monthly_eur"} {
			v := bytes.TrimSpace(c[field])
			if len(v) > 0 && v[0] != '"' && string(v) != "null" {
				if !wholeCents(string(v)) {
					return fmt.Errorf("%s: %s %s: want euros with at most two decimals (a cap of less than a cent "+
						"would round to no cap)", scope, field, v)
				}
				continue
			}
			var s string
			if len(v) == 0 || json.Unmarshal(v, &s) != nil {
				continue // absent, or null
			}
			if !fileEuros.MatchString(strings.TrimSpace(s)) {
				return fmt.Errorf("%s: %s %q: want euros as digits with at most two decimals, such as 1500 or \"499,90\" "+
					"(no thousands separators: \"1.500\" and \"1,500\" are ambiguous)", scope, field, s)
			}
		}
		return nil
	}
	if err := check("account", raw.Account); err != nil {
		return err
	}
	if err := check("tenant_default", raw.TenantDefault); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(raw.Tenants)) {
		if err := check("tenant "+name, raw.Tenants[name]); err != nil {
			return err
		}
	}
	return nil
}

// wholeCents reports whether the JSON number n is a whole number of cents
// (500, 499.9, 1e3): one with more is not rounded into a cap, since 0.004
// would round to 0, no cap at all.
func wholeCents(n string) bool {
	r, ok := new(big.Rat).SetString(n)
	return ok && r.Mul(r, big.NewRat(100, 1)).IsInt()
}

// Settings returns the file's caps: the account's, the default tenant
// caps, then tenants by name. The account's and the default's come even
// when zero: the file says there is no such cap.
func (f File) Settings() []Setting {
	out := []Setting{{Scope: Account(), Caps: f.Account}, {Scope: TenantDefault(), Caps: f.TenantDefault}}
	for _, name := range slices.Sorted(maps.Keys(f.Tenants)) {
		out = append(out, Setting{Scope: Tenant(name), Caps: f.Tenants[name]})
	}
	return out
}

// Apply sets the caps of every scope the file names (the account and the
// default tenant caps always), leaving other tenants' caps alone.
func (b *Budgets) Apply(ctx context.Context, f File) error {
	for _, s := range f.Settings() {
		if err := b.Set(ctx, s.Scope, s.Caps); err != nil {
			return err
		}
	}
	return nil
}
