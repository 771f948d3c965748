// Package natstest starts embedded JetStream-enabled nats-servers for
// tests: one server (Run), or a three-node cluster on loopback
// (RunCluster, ClusterOptions), and a proxy in front of one that drops or
// damages what clients publish (DropProxy). NoResponders and
// NoRespondersJS answer picked fetches of ordered consumers with "no
// responders", as a cluster may.
package natstest
