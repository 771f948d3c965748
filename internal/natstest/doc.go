// Package natstest starts an embedded JetStream-enabled nats-server for tests.
package natstest
