// Package servertime gives every replica the same clock: the NATS
// server's, estimated from the timestamps the server puts on KV entries.
//
// Leases and settle times are written by one replica and read by another.
// Compared on the replicas' own clocks, a replica whose clock runs ahead
// would see another's lease end early and take over a POST still in
// flight. Compared on the server's clock they mean the same to everyone.
//
// Clock.Now never runs ahead of the server: it is the timestamp of an entry
// the server stored (which it stored before the read that returned it)
// plus the time measured on this process's monotonic clock since that read
// returned. It lags the server by at most the read's round trip and the
// server's own clock steps. Sync refreshes it: one KV put and one get.
// Between syncs the monotonic clock carries it, unaffected by changes to
// the wall clock.
package servertime
