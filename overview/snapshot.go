package overview

import "time"

// Snapshot is the pipeline at one moment. A part that could not be read is
// nil (and named in Problems); counts kept in memory are nil until their
// first pass is complete.
type Snapshot struct {
	At    time.Time `json:"at"`
	Ready bool      `json:"ready"` // Requests and DeadLetters are both complete
	// Submissions is the submissions consumer's state.
	Submissions *Submissions `json:"submissions,omitempty"`
	// Tracking is the tracking consumer's state.
	Tracking *Tracking `json:"tracking,omitempty"`
	// Requests are the open and unsent submissions (the records watch).
	Requests *Counts `json:"requests,omitempty"`
	// DeadLetters counts the dead letters in the DLQ stream by reason.
	DeadLetters      map[string]int `json:"dead_letters,omitempty"`
	DeadLettersTotal int            `json:"dead_letters_total"`
	// Upstream is the breaker and the call rate (when the daemon says).
	Upstream *Gauges `json:"upstream,omitempty"`
	// SpendToday is the euros committed today (when configured).
	SpendToday *float64 `json:"spend_today_euros,omitempty"`
	// Paused are the scopes an operator paused (`iseed budget pause`):
	// "account", "tenant:<name>"; their submissions are held as they come.
	// Nil when none, or when the daemon does not know (PausedKnown).
	Paused      []string `json:"paused,omitempty"`
	PausedKnown bool     `json:"-"`
	// Problems name the parts that could not be read.
	Problems []string `json:"problems,omitempty"`
}

// Submissions is the submissions consumer's state.
type Submissions struct {
	Backlog     uint64 `json:"backlog"`     // stored, not yet delivered (NumPending)
	InFlight    int    `json:"in_flight"`   // delivered, not yet acknowledged (NumAckPending)
	Redelivered int    `json:"redelivered"` // of those, delivered more than once (NumRedelivered)
	// OldestWaiting is how long ago the oldest message the consumer has
	// not acknowledged was published (0 when none): waiting for a worker,
	// its upstream token or its next try. Absent when it could not be read.
	OldestWaiting *float64 `json:"oldest_waiting_seconds,omitempty"`
	// OldestWaitingTenant is the tenant whose submission that is: the
	// one the others wait behind when its batch is the backlog.
	OldestWaitingTenant string `json:"oldest_waiting_tenant,omitempty"`
}

// Waiting is OldestWaiting as a duration: 0 when nothing waits or it
// could not be read.
func (s *Submissions) Waiting() time.Duration {
	if s == nil || s.OldestWaiting == nil {
		return 0
	}
	return time.Duration(*s.OldestWaiting * float64(time.Second))
}

// Tracking is the tracking consumer's state: one task per open request.
type Tracking struct {
	Tasks       uint64 `json:"tasks"`       // Undelivered + Delivered
	Undelivered uint64 `json:"undelivered"` // new tasks not yet fetched (NumPending)
	Delivered   int    `json:"delivered"`   // being polled or waiting for their next poll (NumAckPending)
}

// OldestAge is how long the oldest open request has been open at the
// snapshot's time (0 when none is).
func (s *Snapshot) OldestAge() time.Duration {
	if s.Requests == nil || s.Requests.Oldest == nil {
		return 0
	}
	return max(0, s.At.Sub(s.Requests.Oldest.SubmittedAt))
}
