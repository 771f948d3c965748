package dlq

// Dead-letter reason codes (the Iseed-Reason header, and the reason of
// failed events). docs/consumer.md and docs/tracking.md say what each means
// and what an operator does about it.
const (
	ReasonMalformed          = "malformed"
	ReasonInvalid            = "invalid"
	ReasonConflict           = "conflict"
	ReasonUpstreamRejected   = "upstream_rejected"
	ReasonUpstreamDuplicate  = "upstream_duplicate"  // the POST's answer named another submission's request
	ReasonInsufficientCredit = "insufficient_credit" // only on dead letters of earlier versions: a 402 now stops pulling
	ReasonAmbiguous          = "ambiguous"
	ReasonExpired            = "expired"
	ReasonMaxDeliveries      = "max_deliveries"
	ReasonPriorISEE          = "prior_isee_required" // the prior-ISEE rule alone refused it (also the problem's code); replayable unchanged
	ReasonGaveUp             = "gave_up"
	// ReasonCancelledByOperator: a submission an operator cancelled (iseed
	// cancel) before it was sent (held by a cap, a pause or a fair share, or waiting for
	// its upstream token); replayable, to send it after all.
	ReasonCancelledByOperator = "cancelled_by_operator"
	// ReasonWithdrawn: a submission its own producer withdrew (a
	// withdrawal on its submissions subject) before it was sent;
	// replayable, as an operator's cancel is.
	ReasonWithdrawn = "withdrawn"

	// ReasonUnknown is what a letter stored without a reason (none iseed
	// writes; another publisher's, say) is counted and filtered under: the
	// overview's counts, the console's link from them, Filter.
	ReasonUnknown = "unknown"
)

// Reasons returns every reason code above, in the order operators read
// them (the console's filters, the gauges, the CLI's check of --reason).
func Reasons() []string {
	return []string{
		ReasonMalformed, ReasonInvalid, ReasonConflict, ReasonUpstreamRejected,
		ReasonUpstreamDuplicate, ReasonInsufficientCredit, ReasonAmbiguous, ReasonExpired, ReasonMaxDeliveries,
		ReasonPriorISEE, ReasonGaveUp, ReasonCancelledByOperator, ReasonWithdrawn,
	}
}
