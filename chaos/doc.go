// Package chaos is iseed's fault-injection suite. It runs what users run:
// three nats-server processes clustered with JetStream on file storage
// (sync_interval: always, R3 streams), two `iseed serve` processes started
// together and `iseed sim`, each in a network namespace of its own on a
// private bridge; and while submissions flow it kills stream leaders,
// partitions a node from the other two, cuts one iseed process off from
// NATS and stops the other past AckWait, and slows and drops the traffic
// between the servers.
//
// It passes only when every submission was sent upstream exactly once
// (counted at the simulator), every document is stored and its digest
// verified, and every event is in the events stream once; it prints the
// figures. The test is behind the build tag chaos and needs root on Linux
// (ip netns, nftables):
//
//	./.ci/chaos            # 2,000 submissions, the faults at full length
//	./.ci/chaos --short    # 200 submissions, shorter faults (CI)
//
// docs/reliability.md lists the faults, what iseed promises under each and
// the figures of the last full run.
package chaos
