package layout

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// RefusedError is JetStream refusing a stream, consumer or bucket of the
// layout for a reason that waiting does not remove: a configuration the
// server or the account never accepts, until someone changes it or them.
// Ensure returns it; its caller stops retrying and says what to change.
// Everything else Ensure returns may pass (a cluster without a meta leader
// yet, a node down, a lost answer) and is worth another try.
type RefusedError struct {
	// Code is the JetStream API error code (JSStreamInvalidConfigF, …).
	Code jetstream.ErrorCode
	err  error
}

func (e *RefusedError) Error() string { return e.err.Error() }

func (e *RefusedError) Unwrap() error { return e.err }

// The codes of the refusals that waiting does not remove (nats-server's
// jetstream_errors_generated.go). Others are left to retries, among them
// 10005 (no suitable peers: a node is down), 10008 (temporarily
// unavailable), 10023 (insufficient resources, in a cluster) and 10002 (an
// account over its limits, which expiring messages bring back under).
const (
	CodeMaxConsumers     jetstream.ErrorCode = 10026 // JSMaximumConsumersLimitErr: the account's max consumers
	CodeMaxStreams       jetstream.ErrorCode = 10027 // JSMaximumStreamsLimitErr: the account's max streams
	CodeNoMemory         jetstream.ErrorCode = 10028 // JSMemoryResourcesExceededErr: no memory storage for the account or server
	CodeNoStorage        jetstream.ErrorCode = 10047 // JSStorageResourcesExceededErr: no file storage for the account or server
	CodeInvalidConfig    jetstream.ErrorCode = 10052 // JSStreamInvalidConfigF: over a server limit, or an update it never makes
	CodeSubjectOverlap   jetstream.ErrorCode = 10065 // JSStreamSubjectOverlapErr: another stream holds the subjects
	CodeNotClustered     jetstream.ErrorCode = 10074 // JSStreamReplicasNotSupportedErr: replicas on a server without a cluster
	CodeMaxBytesRequired jetstream.ErrorCode = 10113 // JSStreamMaxBytesRequired: the account wants a size limit on every stream
	CodeMaxAckPending    jetstream.ErrorCode = 10121 // JSConsumerMaxPendingAckExcessErrF: over the server's or account's max ack pending
	CodeMaxStreamBytes   jetstream.ErrorCode = 10122 // JSStreamMaxStreamBytesExceeded: over the account's max stream bytes
)

// refused returns err as a *RefusedError when JetStream refused for good,
// and err itself otherwise.
func refused(err error) error {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.ErrorCode {
	case CodeMaxConsumers, CodeMaxStreams, CodeNoMemory, CodeNoStorage, CodeInvalidConfig,
		CodeSubjectOverlap, CodeNotClustered, CodeMaxBytesRequired, CodeMaxAckPending, CodeMaxStreamBytes:
		return &RefusedError{Code: apiErr.ErrorCode, err: err}
	}
	return err
}
