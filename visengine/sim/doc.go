// Package sim is a faithful, stateful simulator of Openapi's Visengine 2.0 API,
// and of the two calls of Openapi's account API that read the wallet it
// charges, for tests, demos and iseed's sandbox mode.
//
// It is an independent implementation of the wire format (it imports neither
// the visengine client nor the account client), so that contract tests
// between the clients and the simulator mean something. A *Server is an
// http.Handler:
//
//	s := sim.New(sim.Config{Token: "secret", Step: 50 * time.Millisecond,
//		AccountEmail: "ops@example.com", AccountAPIKey: "key"})
//	defer s.Close()
//	ts := httptest.NewServer(s)
//
// # Profiles
//
// Config.Profile chooses between two readings of the published material:
//
//	ProfileFriendly (default)  request answers echo their input in ricerche[0]
//	                           (json_ricerca, json_mappato); ids that are not 24 hex
//	                           digits get 400/201 on /richiesta/{id} and 400/243 on
//	                           /documento/{id}; the optional mandate ($7) of the
//	                           person-field services says "null": "1"
//	ProfilePublished           exactly as the published examples, never kinder:
//	                           "ricerche": [] on Patronato services (the ISEE product
//	                           page's POST answer); 404/202 and 404/244 for ids that
//	                           are not 24 hex digits (the OpenAPI 404 examples carry
//	                           such ids); $7 "null": false while validazione still
//	                           lets it out (the published 730 schema); a document
//	                           per state ("Ricevuta DSU" at Dati disponibili,
//	                           "Attestazione" at Visura evasa), its base64 unpadded
//	                           and its dimensione the inner PDF's size, not the
//	                           bytes sent (the published example: 10206 for 103)
//
// Config.Echo says what request answers echo of the input: EchoNone
// ("ricerche": [] on Patronato services, the published default), EchoValues
// (every value, inline-file payloads elided: the friendly default) or
// EchoFiles (every value whole, files included: answers as large as the
// files sent; the simulator then keeps every file in memory). Services of
// other categories always echo their values, as the published Camerali
// examples do.
//
// # What it mirrors
//
// The paths, the envelope {"data", "success", "message", "error"}, the field
// shapes of the API description's examples, and every HTTP status and error
// code of its error tables:
//
//	GET /visure                  catalog (precomputed)
//	GET /visure/{hash}           400/200 wrong hash_visura
//	GET /richiesta               404/203 when the account has no request yet
//	POST /richiesta              checked in this order: 428/204 hash_visura missing,
//	                             400/200 unknown hash (sim-chosen, as GET /visure/{hash}),
//	                             400/209 invalid email_target, 400/400 bad callback_data
//	                             (sim-chosen), 412/250 validazione fails,
//	                             402/211 "Insufficient Credit in Wallet: <balance>"
//	GET /richiesta/{id}          400/201 id not 24 hex digits (404/202 under
//	                             ProfilePublished), 404/202 unknown id
//	PUT /richiesta/{id}          428/226 id missing, 404/228 unknown (or malformed) id,
//	                             400/239 already closed, 412/229 validazione fails or
//	                             invalid email_target, 402/211 wallet short (sim-chosen)
//	GET /documento/{id}          428/242 id missing (/documento, /documento/), 400/243
//	                             malformed id (404/244 under ProfilePublished), 404/244
//	                             unknown id, 422/247 not available (In ricerca, In
//	                             erogazione or Annullata)
//	DELETE /richiesta/{id}       body {"motivo": "…"} (optional); codes sim-chosen as
//	                             PUT's: 428/226, 404/228, 400/239 when already final
//	POST /richiesta/{id}         search flow, not simulated: 400/219, 404/228 (sim-chosen),
//	                             404/221 for a draft, else 409/222
//	PUT /richiesta/{id}/ricerche not simulated: 404/228, else 409/230
//
// Sim-chosen answers outside the reference use an error code equal to the HTTP
// status: 401 (missing or wrong "Authorization: Bearer <Token>" on a Visengine
// call; the account API's own 401 is published, see below), 404 (unknown
// path), 405 (wrong method), 400 (malformed JSON body or callback_data), and the
// injected 429, 5xx and 400, 409 and 428 refusals (an injected 412 carries
// the documented 250).
//
// # Requests and money
//
// POST /richiesta with "test": true validates and prices (including the 402
// check) and answers the Richiesta shape with an empty "_id"; it creates and
// charges nothing. "state": 0 creates an open draft: not validated, not charged,
// stato_richiesta "In ricerca" with an empty timestamp_stati; PUT with
// "state": 1 validates it, charges price + chosen options and submits it.
// Otherwise POST charges and submits at once. Options are chosen with
// "opzioni": {"opzione_0": true}; unknown option names are ignored. Unknown
// json_visura keys are dropped. Unless Config.Echo is EchoFiles, the base64
// payload of values of "file" fields is not kept (only its length):
// json_ricerca shows such values as "name|data:mime;base64,". Cancellation
// never refunds.
//
// # The wallet and the account API
//
// The wallet is kept in cents, with one transaction per movement: a charge
// for every POST that submits (commit_then_fail and late_commit included:
// they charge, and the charge names the request even while late_commit
// hides it) and every PUT that submits a draft, for prezzo_visura +
// prezzo_ricerca + the chosen options, dated the request's
// timestamp_creation (the PUT's time for a draft); and one for every change
// of the balance by SetWallet or PUT /_sim/wallet, "Wallet recharge" when it
// grows, "Wallet adjustment" when it shrinks. Nothing is recorded for
// "test": true, drafts, error answers (402 and the rest) or a balance set to
// what it is. The balance is always the starting balance (Config.Wallet)
// plus the sum of the transactions; Server.Transactions lists them.
//
// Two calls of the account API (oauth.openapi.com, as its OpenAPI
// description shows them) read it. They authenticate with "Authorization:
// Basic base64(email:apikey)" against Config.AccountEmail and
// Config.AccountAPIKey (unless both are set, every call is refused), refuse
// the bearer token, and answer {"data": …} alone:
//
//	GET /wallet                {"data": {"credit": 982.3, "createdAt":
//	                           "2025-01-15T10:00:00+00:00", "updatedAt": …}}: credit in
//	                           euro (as GET /_sim/wallet), createdAt the Server's start,
//	                           updatedAt the newest transaction's time (createdAt when none)
//	GET /wallet/transactions   ?skip=&limit= (limit 100 by default and at most; junk,
//	                           zero or negative values read as the defaults, sim-chosen)
//	                           {"data": [{"id": "txn_<24 hex>", "amount": -16,
//	                           "createdAt": "2026-03-05T10:00:00+00:00", "description":
//	                           "API usage - visengine2.altravia.com <request id>"}, …]},
//	                           newest first; {"data": []} past the end
//	401/140                    {"success": false, "message": "Unauthorized", "error": 140,
//	                           "data": null}: credentials missing or wrong
//
// # Lifecycle
//
// A submitted request is "In erogazione" at once (timestamp_stati in_ricerca and
// in_erogazione), "Dati disponibili" after Config.Step (the document can be
// downloaded) and "Visura evasa" after another Step. A deterministic share
// (Config.CancelRate, drawn from Config.Seed and the request's creation order)
// goes "In erogazione" → "Annullata" after one Step instead, with a
// motivo_annullamento and an esito failure code (301, 302 or 303, sim-chosen).
// DELETE cancels at once with esito code "300" (sim-chosen). States are computed
// lazily from timestamps, so open requests cost no goroutines.
//
// Config.Lifetime, when set, paces each request instead of Step: it says,
// per service and creation order, how long after its submission a request
// reaches "Dati disponibili" and "Visura evasa" (a doomed one is
// "Annullata" at the first). With Config.Now an accelerated clock, a
// benchmark can give an ISEE its 4–5 working days (internal/scale does).
//
// # Callbacks (sim-chosen shape)
//
// When a request carries callback_data {url, method, field, data}, every state
// change is POSTed to url: method "JSON" sends the JSON object
// {<field>: <Richiesta>}; "POST" (the default) sends a form with <field> set to
// the Richiesta as JSON. field defaults to "data" (modelled on DocuEngine's
// documented callback). The Richiesta is the request as of that state change,
// with callback_data (and its data) echoed as sent. Failed deliveries (transport
// errors or non-2xx) are attempted up to 5 times with exponential backoff from
// 100ms; they never block the API. A retried callback may arrive after a later
// state's: receivers should re-read the request, as with the real API. One scheduler goroutine (a min-heap of due times) and a
// fixed pool of delivery workers do all of this.
//
// # Admin and faults
//
// Paths under /_sim/ are the simulator's own (the real API has none) and need
// no token; they answer plain JSON, not the envelope:
//
//	GET  /_sim/counters   calls per endpoint key plus "created", "charged",
//	                      "callbacks" (delivered) and "callback_failures" (attempts)
//	POST /_sim/reset      zero the counters
//	GET  /_sim/faults     the active Faults (Next shows what is left)
//	PUT  /_sim/faults     replace them; DELETE /_sim/faults clears them
//	GET  /_sim/wallet     {"euro": balance}
//	PUT  /_sim/wallet     {"euro": 100} sets the balance, recording the difference
//
// Calls are counted per endpoint once routed, before authentication and fault
// injection. See Faults for the knobs, each settable at New (Config.Faults),
// with SetFaults or PUT /_sim/faults, validated, firing for the next N calls
// ("next") and then for a share of calls ("rate"). The account API's keys
// are "GET /wallet" and "GET /wallet/transactions":
//
//	latency            added before every API call
//	errors, throttle   injected 5xx (or a 400, 409, 412 or 428 refusal: nothing
//	                   created or charged) and 429 per endpoint key, after
//	                   authentication, before the handler
//	commit_then_fail   POST /richiesta creates and charges, then answers 502 or hangs
//	late_commit        as commit_then_fail, and the request stays unseen (404/202,
//	                   absent from GET /richiesta, callbacks held) until "delay"
//	                   (default 1m, at most 24h, on Config.Now) after the POST
//	preamble           a UTF-8 BOM and/or a PHP notice before the JSON
//	object_lists       ricerche, allegati, opzioni (and the transactions) as objects
//	                   keyed "0", "1", …
//	php_scalars        prices (and credit, amounts) as "11,70", dimensione as "10206",
//	                   stato_richiesta as " in  erogazione "
//	oversize           "pad" bytes in an extra key "_padding" (first in data when
//	                   it is an object, else in the envelope), streamed; "files"
//	                   echoes inline files whole (at their original size)
//	reformat_echo      true: requests created from then on store and echo text
//	                   values reformatted (white space removed, upper-cased, dates
//	                   DD/MM/YYYY); a switch, not per endpoint key, never drawn
//
// The shape knobs (preamble to oversize) change how an answer is written,
// never what it says; they fire after authentication and the injected
// errors, on the answers the handler writes.
//
// Close stops the scheduler and the delivery workers, releases handlers held by
// a "hang" fault, and waits for all of them. When serving with http.Server or
// httptest.Server, Close the simulator before shutting the server down, so that
// no hung handler holds the shutdown up.
//
// Not simulated: the search flow (ricerca: true), e-mail delivery to
// email_target, field type checks beyond validazione (the real API may refuse
// a malformed codice fiscale), the expiry of old drafts, refunds, and the
// account API beyond its two wallet calls (tokens, scopes, stats, …).
package sim
