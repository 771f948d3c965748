// Package layout names, creates and binds every JetStream resource iseed
// uses: the streams of submissions, events, dead letters, advisories,
// tracking tasks and the ledger, their durable consumers, the KV buckets
// (records, the request index, schemas, the ISEE history, keys, caps and
// their usage, held submissions, the shared rate limit) and the documents
// Object Stores (one per tenant, created on a tenant's first document by
// TenantDocuments, and the shared one of documents stored before).
// All names derive from one subject prefix, so two deployments can share a
// cluster.
//
// Ensure is for `iseed serve`: it creates or updates everything,
// idempotently, with the daemon's settings; replicas starting together may
// run it at once, and the caller retries it as a whole, except when it
// returns a *RefusedError: JetStream refuses for good, or a
// *QuotaBelowUseError: a tenant quota (Layout.TenantMaxSubmissions, a
// per-subject limit on the submissions stream, quota.go) under what a
// tenant already holds, which JetStream would apply by deleting that
// tenant's oldest submissions. Open is for
// operator commands: it binds to what exists and never creates or changes
// anything. CreateFilesBucket makes a tenant's files bucket, the Object
// Store its nats-os:// references name, for `iseed tenant init`, and never
// changes one; FilesBucketsProblems says what is wrong with those there are
// (files kept for ever or longer than FilesMaxAge, direct get on).
package layout
