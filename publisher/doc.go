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
// Beside the events it owns what the contract's readers rely on: the
// message ids of submissions (SubmissionMsgID, which tenants set) and of
// tracking tasks (TrackMsgID); each tenant's two durable pull consumers
// on the events stream, "<tenant>-status" and "<tenant>-documents", which
// iseed makes because tenants may create none (EnsureTenantConsumers:
// `iseed tenant init`, and layout.Ensure at every start for each tenant
// with a documents bucket); and one submission's events, read back
// (ReadEvents, ReadEventsUpTo: `iseed status`, the console) or removed
// (Subjects.PurgeOf: `iseed erase`, and either loop on finding its record
// erased).
//
// The package knows nothing of the upstream API: callers translate into
// these types.
package publisher
