package ratelimit

import (
	"encoding/json"
	"math"
	"time"
)

// state is the token bucket as stored in the KV entry.
type state struct {
	// Tokens is the balance at Upto, after the takes of the write. It is
	// negative after a Pause: a debt the refill pays back before anything
	// is granted.
	Tokens float64 `json:"tokens"`
	// Upto is the server time (Unix ns) up to which refills are credited.
	Upto int64 `json:"upto_ns"`
}

func (s state) encode() []byte {
	b, _ := json.Marshal(s) // two numbers: cannot fail
	return b
}

// decodeState reads a stored state. A value that is not one (written by
// hand, or by a future version) counts as an empty bucket credited up to
// stamp: the safe reading, and the next write repairs it. A debt is kept
// (Pause); the round bounds it (Config.MaxPause).
func decodeState(b []byte, stamp int64) state {
	var s state
	if json.Unmarshal(b, &s) != nil || math.IsNaN(s.Tokens) || math.IsInf(s.Tokens, 0) {
		return state{Upto: stamp}
	}
	return s
}

// refill returns the bucket at server time now, read from an entry stamped
// stamp: credited from Upto, but never from later than the stamp (a writer
// cannot have credited time the server had not yet reached when it stored
// the write), capped at burst.
func (s state) refill(stamp, now int64, rate float64, burst int) state {
	from := min(s.Upto, stamp)
	if now <= from {
		return state{Tokens: min(s.Tokens, float64(burst)), Upto: from}
	}
	credit := rate * float64(now-from) / float64(time.Second)
	return state{Tokens: min(s.Tokens+credit, float64(burst)), Upto: now}
}

// split decides how many of the whole tokens in avail each class takes for
// its need: submissions may take any token, polls only those above the
// reserve, after the submissions took theirs.
func split(avail float64, need [numClasses]int, reserve int) [numClasses]int {
	var got [numClasses]int
	got[Submission] = max(0, min(need[Submission], int(avail)))
	got[Poll] = max(0, min(need[Poll], int(avail-float64(got[Submission]+reserve))))
	return got
}

// minSleep keeps a fetcher that is a hair short of a token from spinning.
const minSleep = 200 * time.Microsecond

// until returns how long the bucket needs, at rate, to hold what the
// neediest class waiting can take: one token for a submission, one above
// the reserve for a poll.
func until(avail float64, need [numClasses]int, reserve int, rate float64) time.Duration {
	target := float64(reserve + 1)
	if need[Submission] > 0 {
		target = 1
	}
	d := time.Duration((target - avail) / rate * float64(time.Second))
	return max(d, minSleep)
}
