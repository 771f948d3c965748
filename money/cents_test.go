package money_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/iseed-dev/iseed/money"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want money.Cents
	}{
		{"11.7", 1170},
		{"11,70", 1170},
		{"11.70", 1170},
		{"16", 1600},
		{" 4 ", 400},
		{"-15.5", -1550},
		{"+0.05", 5},
		{".5", 50},
		{"5.", 500},
		{"0", 0},
		{"1.234,56", 123456},
		{"1,234.56", 123456},
		{"1.234.567,89", 123456789},
		{"1.234", 123}, // a lone separator is decimal
		{"1,005", 101}, // half away from zero
		{"0.004", 0},
		{"0.0050", 1},
		{"-0.005", -1},
		{"19.899999999999999", 1990},
		{"1e2", 10000},
		{"1.5E1", 1500},
		{"5e-3", 1},
		{"4e-3", 0},
		{"1e-30", 0},
		{"999999999999.99", 99999999999999},
		{"9999999999999999.99", money.Max},
		{"-9999999999999999.99", -money.Max},
	}
	for _, tt := range tests {
		got, err := money.Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "-", "+", ".", ",", "abc", "1.2.3", "1,2,3", "1 000", "€11", "11€", "1e", "e5",
		"1e99", "0x10", "1/2", "NaN", "Inf", "--1", "10000000000000000", "10000000000000000.00"} {
		if got, err := money.Parse(in); !errors.Is(err, money.ErrAmount) {
			t.Errorf("Parse(%q) = %d, %v; want ErrAmount", in, got, err)
		}
	}
}

func TestFromFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want money.Cents
	}{
		{11.7, 1170},
		{15.5, 1550},
		{19.9, 1990},
		{0.1 + 0.2, 30},
		{1.005, 101}, // the decimal JSON wrote, not the binary 1.00499…
		{-5.25, -525},
		{1e-7, 0},
		{0, 0},
	}
	for _, tt := range tests {
		got, err := money.FromFloat(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("FromFloat(%v) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e17} {
		if _, err := money.FromFloat(in); !errors.Is(err, money.ErrAmount) {
			t.Errorf("FromFloat(%v): got %v, want ErrAmount", in, err)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in   money.Cents
		want string
	}{
		{1170, "11.70"},
		{5, "0.05"},
		{-5, "-0.05"},
		{0, "0.00"},
		{-155000, "-1550.00"},
		{math.MinInt64, "-92233720368547758.08"},
		{math.MaxInt64, "92233720368547758.07"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Cents(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestJSON(t *testing.T) {
	type doc struct {
		A money.Cents `json:"a"`
	}
	tests := []struct {
		in   string
		want money.Cents
		out  string
	}{
		{`{"a":11.7}`, 1170, `{"a":11.70}`},
		{`{"a":"11,70"}`, 1170, `{"a":11.70}`},
		{`{"a":-15.5}`, -1550, `{"a":-15.50}`},
		{`{"a":100}`, 10000, `{"a":100.00}`},
		{`{"a":null}`, 0, `{"a":0.00}`},
		{`{}`, 0, `{"a":0.00}`},
	}
	for _, tt := range tests {
		var d doc
		if err := json.Unmarshal([]byte(tt.in), &d); err != nil || d.A != tt.want {
			t.Errorf("decode %s: got %d, %v; want %d", tt.in, d.A, err, tt.want)
			continue
		}
		b, err := json.Marshal(d)
		if err != nil || string(b) != tt.out {
			t.Errorf("encode %d: got %s, %v; want %s", d.A, b, err, tt.out)
		}
	}
	for _, in := range []string{`{"a":"x"}`, `{"a":true}`, `{"a":[1]}`, `{"a":"1.2.3"}`} {
		var d doc
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("decode %s: got %d, want an error", in, d.A)
		}
	}
}
