// Package objread reads an object of a JetStream Object Store bucket with
// direct gets only: it creates no consumer, no subscription other than the
// connection's reply inbox, and writes nothing to the server.
//
// nats.go's ObjectStore.Get reads the chunks through an ordered push
// consumer on the bucket's stream. A tenant that may create consumers on
// the documents bucket's stream in the ISEED account may also create a push
// consumer whose deliver subject is some other consumer's API subject (say
// iseed's $JS.API.CONSUMER.MSG.NEXT… pull subject) and stall it. Reading
// with Read, a tenant needs no consumer grant at all: for its bucket
// <bucket> (stream OBJ_<bucket>), exactly these two direct-get subjects,
// imported from the ISEED account and allowed to the tenant's user:
//
//	$JS.API.DIRECT.GET.OBJ_<bucket>                  the chunks (the request's body names them)
//	$JS.API.DIRECT.GET.OBJ_<bucket>.$O.<bucket>.M.>  the objects' info (last message by subject)
//
// The first one reads any message of that one stream, which is what the
// bucket holds: the tenant's own documents. With a JetStream domain or an
// import under another prefix, APIPrefix replaces "$JS.API".
//
// The stream must allow direct gets (allow_direct). Object stores made by
// nats.go's CreateObjectStore have it; without it the server has no
// responder and Read fails with nats.ErrNoResponders.
//
// # What Read checks
//
// The object's info is the last message on $O.<bucket>.M.<name in
// base64url, padded>; a missing or deleted object is an error wrapping
// jetstream.ErrObjectNotFound, a link is refused with ErrLink. The chunks
// are the messages on $O.<bucket>.C.<NUID>, fetched one by one from the
// sequence after the previous one, written to the caller's writer as they
// arrive (at most one chunk is held), and hashed. A chunk missing before
// the info's count is read is ErrMissingChunk; a total size or SHA-256
// digest that differs from the info's is ErrSizeMismatch or
// ErrDigestMismatch; an answer that is not the message asked for (another
// subject, an earlier sequence, a missing header) is ErrBadAnswer. On any
// error the writer may have received part of the object, never more than
// the info's size: write to a temporary place and keep it only when Read
// succeeds.
//
// Every request is bounded by the context alone: give it a deadline.
//
// On a replicated stream every current replica answers direct gets, and a
// follower may lag the leader by a moment: a read racing the write of the
// same object may find the older info (and read the older object, or fail
// with ErrMissingChunk once its chunks are purged), or miss a chunk the newer
// info names (ErrMissingChunk). Reading again a moment later succeeds.
//
// Errors name the bucket and "the object", never the object's name: names
// may carry personal data (iseed's end in the upstream's file name). The
// package does not log.
package objread
