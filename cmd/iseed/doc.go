// Command iseed turns submission events on a NATS JetStream stream into
// Openapi Visengine requests (ISEE, NASpI, 730, …) and the answers back into
// events.
//
// It is the composition root: the only place that reads the environment
// (config.go: every ISEED_* variable, decoded and validated once), connects
// to NATS or starts the embedded server (natsconn.go), and wires the
// packages together. `iseed serve` (serve.go, servecmd.go) creates the
// JetStream layout, then runs the submission pipeline (package consumer),
// the tracker (package tracking), the money parts (money.go: caps, ledger,
// wallet, audit), the admin listener (health, metrics, the web console:
// consolewire.go) and the callbacks listener, until SIGTERM. Every other
// command is an operator's tool (root.go lists them; docs/cli.md documents
// them and is generated from them): they bind to what exists and never
// create or change streams, consumers or buckets, but for `iseed tenant
// init`, which makes a tenant's event consumers and its files bucket.
package main
