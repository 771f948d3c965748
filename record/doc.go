// Package record is the submission record both of iseed's loops share: what
// iseed knows of one submission (its state, its upstream request, its
// timeline, its document), kept in the KV bucket iseed_submissions under
// "<tenant>.<id>".
//
// Contract:
//   - A record holds no payload: the payload is known only by its
//     fingerprint. It does hold the submission's metadata, the person key
//     (a keyed hash of the tax code), problem messages that may quote
//     what the tenant sent, the document's file name and a request state
//     the API does not publish (the upstream's free text, which may name
//     the person), until Scrub removes them.
//   - A record is created once (Store.Create is create-only) and every later
//     change is a compare-and-set on its revision (Store.Update returns
//     ErrRevision when another writer moved first). Callers copy a record
//     with Clone (or by value, with To and AddReplay clipping the slices
//     they append to) before changing it.
//   - Replays holds the dead letters that reopened the record, so that a
//     dead letter reopens it at most once, whichever loop replays it.
//   - Scrub removes the tenant's data (metadata, person key, problem
//     texts), the document's file name (ScrubbedObject) and a request
//     state the API does not publish from a closed
//     record and keeps everything that stops the submission from being
//     sent or paid again; a record is never deleted.
//   - Status renders the record as a publisher.Status event.
package record
