// Package publisher owns iseed's outbound event contract and publishes it.
//
// Every event is a CloudEvents 1.0 envelope in structured JSON mode,
// published on JetStream with a deterministic Nats-Msg-Id equal to the
// event's id, so a retried publish inside the stream's duplicate window is
// stored once. The wire format is versioned by the event type and pinned by
// golden files in testdata (regenerate with `go test ./publisher -update`).
//
// Subjects, with the configurable prefix P (default "iseed"):
//
//	P.status.<tenant>.<submission_id>     status events (Status)
//	P.documents.<tenant>.<submission_id>  document-ready events (DocumentReady)
//	P.account.wallet                      account events (AccountEvent)
//
// The package knows nothing of the upstream API: callers translate into
// these types.
package publisher
