// Package workdays is the Italian working-day calendar that upstream
// deadlines are measured in: an ISEE is due in 4–5 working days (sometimes
// 10–15), a DSU in about one.
//
// A working day is a civil day in Europe/Rome from Monday to Friday that is
// not a national holiday: 1 and 6 January, Easter Monday, 25 April, 1 May,
// 2 June, 15 August, 4 October (from 2026), 1 November, 8, 25 and 26
// December. Local patron saints' days (29 June in Rome, 7 December in Milan, …) are not holidays here: the
// upstream's CAF and Patronato offices are national.
//
// Working time is the time that falls on working days: every instant of a
// working day counts, every instant of a weekend or holiday does not. Day
// boundaries are midnights in Europe/Rome. Since Italy changes to and from
// summer time on Sundays, every working day lasts exactly 24 hours, so one
// working day of working time and one working day of the calendar agree:
// [Calendar.Add] with n days and [Calendar.AddTime] with n×24h give the same
// instant.
//
// Every result of [Calendar.Add] and [Calendar.AddTime] falls on a working
// day: a time on a weekend or holiday counts from the start of the next
// working day, and a span that ends exactly at a working day's midnight ends
// at the start of the next working day instead (Friday 00:00 plus one
// working day is Monday 00:00, not Saturday 00:00).
//
// The package embeds the time zone database (time/tzdata), so that day
// boundaries are right on images without one, such as distroless.
package workdays
