package schema

// The years a date field may name: a sanity range that catches typos such
// as 0201 for 2001.
const (
	minYear = 1800
	maxYear = 2199
)

// checkDate accepts a real calendar date written dd-mm-yyyy (the form the
// upstream checks) or yyyy-mm-dd, and returns it as dd-mm-yyyy.
func checkDate(v string) checked {
	var day, month, year int
	switch {
	case len(v) == 10 && v[2] == '-' && v[5] == '-':
		day, month, year = number(v[0:2]), number(v[3:5]), number(v[6:10])
	case len(v) == 10 && v[4] == '-' && v[7] == '-':
		year, month, day = number(v[0:4]), number(v[5:7]), number(v[8:10])
	default:
		return invalid(CodeInvalidDate, "must be a date written dd-mm-yyyy (or yyyy-mm-dd), e.g. 31-12-1980")
	}
	if day < 0 || month < 0 || year < 0 {
		return invalid(CodeInvalidDate, "must be a date written dd-mm-yyyy (or yyyy-mm-dd), e.g. 31-12-1980")
	}
	if year < minYear || year > maxYear {
		return invalid(CodeInvalidDate, "the year must be between 1800 and 2199")
	}
	if month < 1 || month > 12 || day < 1 || day > daysInMonth(month, year) {
		return invalid(CodeInvalidDate, "is not a real calendar date")
	}
	if v[2] == '-' {
		return checked{value: v}
	}
	return checked{value: v[8:10] + "-" + v[5:7] + "-" + v[0:4]}
}

// number parses a string of ASCII digits; -1 when it is not one.
func number(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return -1
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func daysInMonth(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
