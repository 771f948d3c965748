package budget

import (
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/money"
)

// Periods and units of caps, as OverBudgetError names them.
const (
	PeriodDay    = "day"
	PeriodMonth  = "month"
	UnitEUR      = "eur"
	UnitRequests = "requests"
)

// ErrOverBudget matches every *OverBudgetError (errors.Is).
var ErrOverBudget = errors.New("over budget")

// ErrContended reports a reservation that lost the compare-and-set to
// other replicas too many times in a row: retry it later.
var ErrContended = errors.New("budget: usage changed concurrently too many times")

// PausedError says that an operator paused the scope (Budgets.Pause): the
// tenant's, or the account's (every tenant's). Nothing was counted.
type PausedError struct {
	Scope Scope
}

// Error implements error: "budget: tenant:acme is paused by an operator".
func (e *PausedError) Error() string {
	return fmt.Sprintf("budget: %s is paused by an operator", e.Scope)
}

// Code names the pause for held reasons: "tenant_paused" or
// "account_paused".
func (e *PausedError) Code() string { return e.Scope.kind() + "_paused" }

// OverBudgetError says which cap a reservation would exceed. Nothing of
// the refused reservation stays counted.
type OverBudgetError struct {
	Scope  Scope
	Period string // PeriodDay or PeriodMonth
	Unit   string // UnitEUR (Limit, Used and Asked in cents) or UnitRequests
	Limit  int64  // the cap
	Used   int64  // counted in the period before this reservation
	Asked  int64  // what this reservation adds: its price, or 1 request
	// Until is the end of the period (a Rome midnight): the cap cannot let
	// the reservation pass before then unless it is raised or a
	// reservation is released.
	Until time.Time
}

// Error implements error, e.g. "budget: tenant:acme daily cap of 100.00 EUR
// reached (95.00 used, 11.70 asked) until 2026-03-06T00:00:00+01:00".
func (e *OverBudgetError) Error() string {
	return fmt.Sprintf("budget: %s %s cap of %s reached (%s used, %s asked) until %s",
		e.Scope, adjective(e.Period), e.amount(e.Limit), e.bare(e.Used), e.bare(e.Asked), e.Until.Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrOverBudget) hold.
func (e *OverBudgetError) Is(target error) bool { return target == ErrOverBudget }

// Code is a stable name of the cap for metrics and held reasons:
// "<account|tenant>_<day|month>_<eur|requests>", e.g. "tenant_day_eur".
func (e *OverBudgetError) Code() string {
	return e.Scope.kind() + "_" + e.Period + "_" + e.Unit
}

func (e *OverBudgetError) amount(v int64) string {
	if e.Unit == UnitEUR {
		return money.Cents(v).String() + " EUR"
	}
	if v == 1 {
		return "1 request"
	}
	return fmt.Sprintf("%d requests", v)
}

func (e *OverBudgetError) bare(v int64) string {
	if e.Unit == UnitEUR {
		return money.Cents(v).String()
	}
	return fmt.Sprint(v)
}

func adjective(period string) string {
	if period == PeriodDay {
		return "daily"
	}
	return "monthly"
}

// CodeUnknownPrice is UnpricedError's Code.
const CodeUnknownPrice = "unknown_price"

// UnpricedError says that a euro cap applies to a reservation whose price
// is unknown (its service, or an option chosen, publishes none): it cannot be counted against
// the cap, whatever room is left, so it is not made. Only removing every
// euro cap that applies lets it pass.
type UnpricedError struct {
	Scope  Scope  // the tenant's (its own cap or the default's) or the account's
	Period string // PeriodDay or PeriodMonth: the first such cap found
}

// Error implements error, e.g. "budget: the price is unknown (the service,
// or an option chosen, publishes none) and the tenant:acme daily cap in euros applies: nothing
// is sent while a cap in euros does". It names no amount: of the account's
// caps a tenant learns only which.
func (e *UnpricedError) Error() string {
	return fmt.Sprintf("budget: the price is unknown (the service, or an option chosen, publishes none) and the %s %s cap in euros applies: "+
		"nothing is sent while a cap in euros does", e.Scope, adjective(e.Period))
}

// Code is CodeUnknownPrice, for held reasons: not a cap's code, since no
// cap is reached.
func (e *UnpricedError) Code() string { return CodeUnknownPrice }
