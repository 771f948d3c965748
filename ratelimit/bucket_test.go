package ratelimit

import (
	"testing"
	"time"
)

func TestRefill(t *testing.T) {
	const sec = int64(time.Second)
	tests := []struct {
		name       string
		s          state
		stamp, now int64
		want       state
	}{
		{"credit since upto", state{Tokens: 1, Upto: 10 * sec}, 10 * sec, 10*sec + sec/4, state{Tokens: 6, Upto: 10*sec + sec/4}},
		{"capped at burst", state{Tokens: 1, Upto: 10 * sec}, 10 * sec, 100 * sec, state{Tokens: 8, Upto: 100 * sec}},
		{"new bucket", state{Tokens: 8}, 10 * sec, 10 * sec, state{Tokens: 8, Upto: 10 * sec}},
		{"upto past the stamp credits from the stamp", state{Tokens: 0, Upto: 3600 * sec}, 10 * sec, 10*sec + sec/10, state{Tokens: 2, Upto: 10*sec + sec/10}},
		{"estimate behind upto credits nothing", state{Tokens: 2.5, Upto: 10 * sec}, 11 * sec, 9 * sec, state{Tokens: 2.5, Upto: 10 * sec}},
	}
	for _, tt := range tests {
		got := tt.s.refill(tt.stamp, tt.now, 20, 8)
		if d := got.Tokens - tt.want.Tokens; d > 1e-9 || d < -1e-9 || got.Upto != tt.want.Upto {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name    string
		avail   float64
		need    [numClasses]int // [Poll, Submission]
		reserve int
		want    [numClasses]int
	}{
		{"nothing needed", 5, [2]int{0, 0}, 1, [2]int{0, 0}},
		{"submission takes the last token", 1, [2]int{0, 1}, 1, [2]int{0, 1}},
		{"poll leaves the reserve", 1.9, [2]int{1, 0}, 1, [2]int{0, 0}},
		{"poll takes above the reserve", 2, [2]int{1, 0}, 1, [2]int{1, 0}},
		{"polls batch above the reserve", 5.5, [2]int{10, 0}, 2, [2]int{3, 0}},
		{"submissions first, polls from what is left", 4, [2]int{3, 2}, 1, [2]int{1, 2}},
		{"submissions take the reserve and polls nothing", 3, [2]int{3, 5}, 1, [2]int{0, 3}},
		{"fraction below one", 0.99, [2]int{1, 1}, 1, [2]int{0, 0}},
		{"empty", 0, [2]int{4, 4}, 1, [2]int{0, 0}},
	}
	for _, tt := range tests {
		if got := split(tt.avail, tt.need, tt.reserve); got != tt.want {
			t.Errorf("%s: split(%g, %v, %d) = %v, want %v", tt.name, tt.avail, tt.need, tt.reserve, got, tt.want)
		}
	}
}

func TestUntil(t *testing.T) {
	tests := []struct {
		name  string
		avail float64
		need  [numClasses]int
		want  time.Duration
	}{
		{"submission needs one token", 0.5, [2]int{0, 1}, 25 * time.Millisecond},
		{"poll needs one above the reserve", 0.5, [2]int{1, 0}, 125 * time.Millisecond},
		{"a submission waiting sets the pace", 0, [2]int{3, 1}, 50 * time.Millisecond},
		{"never less than minSleep", 0.99999, [2]int{0, 1}, minSleep},
	}
	for _, tt := range tests {
		if got := until(tt.avail, tt.need, 2, 20); got != tt.want {
			t.Errorf("%s: until(%g, %v) = %v, want %v", tt.name, tt.avail, tt.need, got, tt.want)
		}
	}
}

func TestDecodeState(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want state
	}{
		{"valid", `{"tokens":2.5,"upto_ns":42}`, state{Tokens: 2.5, Upto: 42}},
		{"junk", `hello`, state{Upto: 7}},
		{"a debt (Pause)", `{"tokens":-1,"upto_ns":42}`, state{Tokens: -1, Upto: 42}},
		{"infinite debt", `{"tokens":-1e999,"upto_ns":42}`, state{Upto: 7}},
		{"empty", ``, state{Upto: 7}},
	}
	for _, tt := range tests {
		if got := decodeState([]byte(tt.in), 7); got != tt.want {
			t.Errorf("%s: decodeState(%q) = %+v, want %+v", tt.name, tt.in, got, tt.want)
		}
	}
	if got := decodeState(state{Tokens: 3.25, Upto: 99}.encode(), 0); got != (state{Tokens: 3.25, Upto: 99}) {
		t.Errorf("round trip: got %+v", got)
	}
}
