// Package money is iseed's amount of euros and its periods.
//
// An amount is a Cents: an int64 number of euro cents. Amounts are stored
// and added as Cents, never as floats. Parse reads the decimal strings the
// upstream and operators write ("11.7", "11,70", "-15.50", "1.234,56") and
// FromFloat the float64 prices the upstream's JSON decodes to; both round
// to the nearest cent, half away from zero, on the decimal digits (never on
// a binary approximation). A Cents encodes in JSON as a number with two
// decimals (11.70) and decodes from a number or a string, with a decimal
// point or comma.
//
// Periods (a day, a month) are civil periods in Europe/Rome: a day runs
// from one Rome midnight to the next, whatever the daylight saving time.
// The package embeds the time zone database (time/tzdata), so that Rome
// loads where the image has none.
package money
