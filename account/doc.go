// Package account is the HTTP client of Openapi's account API
// (https://oauth.openapi.com, sandbox https://test.oauth.openapi.com): the
// wallet's credit (GET /wallet) and its transactions (GET
// /wallet/transactions?skip=&limit=), what the money iseed spends comes
// out of.
//
// # Contract
//
// Every call authenticates with HTTP Basic (the account's e-mail and API
// key) and makes one attempt per HTTP request: no retries, no logging. A
// failure is always an *Error with the Op, the HTTP status, the
// envelope's error code and message, and a Class: ClassRetryable (no
// answer, a cut answer, 408, 5xx), ClassThrottled (429, with RetryAfter
// from Retry-After) or ClassPermanent (401, 403, 404, other 4xx and 3xx,
// "success": false, an answer that cannot be read: ErrMalformed).
// Redirects are not followed. The API key, the Basic token and the e-mail
// never appear in an error: the server's message is scrubbed of them.
//
// Answers are wrapped in {"data": …}. Decoding is tolerant: amounts as
// numbers or strings with a decimal point or comma (money.Cents, exact to
// the cent), ids as strings or numbers, times as RFC 3339, "2006-01-02
// 15:04:05" (UTC) or unix seconds, lists sent as objects keyed "0", "1",
// …, unknown fields ignored.
//
// Transactions(since) reads pages of PageSize (the API's maximum, 100)
// until a short page, or a page listed newest first that reaches before
// since; it returns the transactions created at or after since. It fails
// rather than return part of the list: past Config.MaxPages, or when a
// page repeats the previous one. A transaction a page lists again (a
// charge made meanwhile shifts the older ones down a place) is returned
// once, by its id. Transaction.RequestID reads the request
// id a Visengine charge's description names.
package account
