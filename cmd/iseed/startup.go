package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go/jetstream"
)

// claimStartup takes, before anything starts, what this process needs for
// itself: on the embedded server, the data directory (locked until
// release); and every listener, each tried once so that an address in use
// fails now, naming the variable to change, instead of after a start-up
// timeout.
func claimStartup(cfg *Config) (release func(), err error) {
	release = func() {}
	if cfg.NATSURL == "" {
		if release, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, l := range cfg.listeners() {
		errs = append(errs, tryListen(l.variable, l.addr))
	}
	if err := errors.Join(errs...); err != nil {
		release()
		return nil, configError(err)
	}
	return release, nil
}

// tryListen listens on addr and closes again at once.
func tryListen(variable, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s=%s cannot be used (%v): another program, perhaps another iseed serve, listens there; set %s to a free address", variable, addr, err, variable)
	}
	return ln.Close()
}

// refusalHint says what to change when JetStream refuses the layout for
// good (layout.RefusedError): the variable behind what it refuses, or the
// NATS server's or account's limits.
func refusalHint(code jetstream.ErrorCode) string {
	switch code {
	case layout.CodeInvalidConfig:
		return "a duplicate window over the server's limit is ISEED_DEDUP_WINDOW (the streams') or duplicate_window " +
			"in the server's jetstream { limits } (the KV buckets ask 2m whatever ISEED_DEDUP_WINDOW is); " +
			"a storage type that cannot change is ISEED_STORAGE: set it back to what the streams were made with"
	case layout.CodeNotClustered:
		return "the NATS server at ISEED_NATS_URL is not in a cluster: set ISEED_REPLICAS=1, or connect to a cluster"
	case layout.CodeNoMemory, layout.CodeNoStorage:
		return "the NATS account or server has no room for this storage: set ISEED_STORAGE to the other type " +
			"(file or memory), or raise the server's max_memory_store/max_file_store or the account's max_mem/max_file"
	case layout.CodeMaxAckPending:
		return "the submissions consumer's max ack pending is 4 × ISEED_WORKERS (at least 64): lower ISEED_WORKERS, " +
			"or raise max_ack_pending in the server's or account's limits"
	case layout.CodeSubjectOverlap:
		return "another stream on this account holds subjects under ISEED_SUBJECT_PREFIX: set another prefix, or remove that stream"
	default: // the account's stream, consumer and size limits
		return "raise the NATS account's JetStream limits: iseed's streams have no size limit, " +
			"and it makes a documents bucket and event consumers per tenant (docs/operations.md)"
	}
}
