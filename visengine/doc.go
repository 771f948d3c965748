// Package visengine is the HTTP client of Openapi's Visengine 2.0 API
// (https://visengine2.altravia.com): the catalog of services (visure), the
// requests (richieste) and their documents.
//
// # Contract
//
// Each method makes exactly one attempt: no retries, no logging. A failure
// is always an *Error (find it with errors.As, or ClassOf) carrying the Op
// ("POST /richiesta", "GET /richiesta/{id}": routes, never ids), the HTTP
// status, the API's error code, iseed's description of the failure and a
// Class that says what the caller may do. Retrying, with Error.RetryAfter
// honoured, is the caller's job. When the call's context ends,
// errors.Is(err, context.Canceled) or errors.Is(err, context.DeadlineExceeded)
// holds.
//
// # Redaction
//
// The API's own "message" may echo what a request carried (a tax code, a
// name), so Error() never includes it: Message is iseed's description (the
// documented meaning of the code, "no answer", "answer too large", …) and
// the upstream's text is only returned by Error.UpstreamMessage, for places
// where personal data may be shown. A "message" holding JSON is kept
// compact on one line. Decode errors never quote the value they failed on.
//
// Every answer is wrapped in {"data", "success", "message", "error"}; the
// envelope is decoded in one place.
//
// # What a PHP backend sends
//
// The decoders tolerate what the API, a PHP application, may send besides
// the described JSON: a UTF-8 byte order mark, notices or warnings before
// the envelope (up to 64 KiB, skipped to the first '{' that opens an
// object); booleans as "0"/"1"; numbers as strings, prices with a decimal
// comma ("11,70", "1.234,50"), null or ""; callback_data false; opzioni
// null, false or ""; lists sent as objects keyed "0", "1", … and empty
// objects sent as []; in a service schema, "nothing" written as null,
// false, "", [] or {} for json_struttura, campi, validazione and the
// istruzioni; states in another case or spacing (NormalizeState). A request
// summary (GET /richiesta) must carry a readable _id, hash_visura and
// timestamp_creation, which reconciliation depends on; its other fields
// decode leniently (a value that does not decode is left zero). A document
// without base64 padding is decoded all the same, and one whose dimensione
// is no number has Dimensione 0.
//
// # Classes
//
//	no answer, GET                         ClassRetryable
//	no answer, request not written whole   ClassRetryable
//	no usable answer, request written      ClassAmbiguous (POST, PUT, DELETE)
//	  (timeout, reset, cut body, undecodable 2xx body, no readable _id
//	  in a 2xx to POST /richiesta)
//	2xx to POST, PUT, DELETE that breaks   success, Richiesta.Partial set
//	  off after a readable _id
//	5xx                                    ClassRetryable on GET, ClassAmbiguous otherwise
//	408                                    ClassRetryable
//	401, 403 (credentials to fix)          ClassRetryable (the request was refused, not processed)
//	429                                    ClassThrottled, RetryAfter from Retry-After
//	402                                    ClassInsufficientCredit
//	404                                    ClassNotFound
//	422 on /documento                      ClassNotReady
//	other 4xx (400 409 412 428 …)          ClassPermanent
//	1xx/3xx (redirects are not followed)   ClassAmbiguous on POST, PUT, DELETE, else ClassPermanent
//	2xx with "success": false              the class of the code's documented status
//	                                       (211 → insufficient credit, 202 → not found,
//	                                       247 → not ready, …); no code or an
//	                                       undocumented one: ClassAmbiguous on POST,
//	                                       PUT, DELETE, else ClassPermanent
//	a failure whose "data" names a request ClassAmbiguous (POST, PUT, DELETE)
//	2xx GET body unreadable or undecodable ClassRetryable
//	  (and a list, catalog or schema answer without "data",
//	  a document whose "file" is missing, null or empty)
//	2xx GET body over the size limit       ClassPermanent (it would be again)
//	the caller's writer fails (Documento)  ClassRetryable, wrapping its error
//
// Retry-After is read on 429 and 503, as delay-seconds or an HTTP date.
//
// # Ambiguity
//
// Whether a request was written whole is known from net/http/httptrace
// (WroteHeaders, WroteRequest). A POST, PUT or DELETE that may have reached
// the server whole but got no usable answer is ClassAmbiguous: the API may
// have acted on it, and for POST /richiesta created and charged a request.
// A 5xx to those methods is ambiguous too: a gateway's 502/504 can hide an
// upstream that committed. Reconcile before sending again (for a creation,
// look for the request with Richieste). GETs change nothing, so a lost
// answer or a 5xx is simply retryable. The 404 with code 203 that GET
// /richiesta returns for an account without requests is an empty list, not
// an error.
//
// # Requests: large answers
//
// The answers about one request (POST /richiesta, GET, PUT and DELETE
// /richiesta/{id}) echo its input in ricerche[].json_ricerca (a JSON
// document in a string) and json_mappato, inline files included: a POST
// carrying scans of identity documents can be answered with many megabytes.
// These answers are streamed, never held whole. _id is read strictly (at
// most 1 KiB); every other field leniently: a value that does not decode,
// or is longer than MaxValueBytes, is left zero. json_ricerca's inner JSON
// is decoded while it streams (the string's content fed to a second
// scanner) into Ricerca.Input; an inline file's value is kept as
// "name|data:mime;base64," and its payload skipped as it arrives; values
// not kept whole are listed in Ricerca.Cut, which a caller comparing input
// must treat as unknown. At most MaxResponseBytes are kept from one answer;
// what is not kept (unknown keys, payloads, values over the limits) is
// skipped whatever its size, so that a large answer to a paid POST is never
// taken for a lost one. Timeout still bounds the whole call.
//
// # Limits
//
//	MaxResponseBytes  8 MiB    bytes kept from an answer: the whole body of
//	                           GET /visure and GET /visure/{hash}; the values kept
//	                           from an answer about one request
//	MaxValueBytes     1 MiB    one value kept from an answer about one request
//	MaxListBytes      128 MiB  the body of GET /richiesta (every summary is kept)
//	MaxDocumentBytes  256 MiB  the body of GET /documento/{id}
//	MaxPreambleBytes  64 KiB   text before the envelope (BOM, PHP notices)
//	(fixed)           64 KiB of "message"; 1 KiB of _id; 256 bytes of an
//	                  object key (a longer one is skipped with its member)
//
// # Documents
//
// Documento streams: the base64 "file" is decoded from the answer straight
// into the caller's io.Writer while it arrives (JSON escapes such as PHP's
// `\/` included; "nome", "dimensione" and "file" in any order), so memory
// stays a few buffers whatever the size. DocumentTimeout bounds the call.
package visengine
