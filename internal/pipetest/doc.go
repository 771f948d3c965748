// Package pipetest runs the submission pipeline for tests: an embedded
// nats-server with the layout, the simulator over real HTTP, and helpers to
// publish submissions and wait for their records, events and dead letters.
package pipetest
