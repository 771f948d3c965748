// Package console is iseed's web console: server-rendered pages (html/template,
// embedded templates and one stylesheet, no scripts) over the overview, the
// submission records and their events, the open requests, the dead letters
// and the spend, mounted on the daemon's HTTP listener (ISEED_HTTP_LISTEN).
//
// # Pages
//
//	GET  /                             the overview (overview.Snapshot)
//	GET  /open?state=&tenant=&page=    open and unsent submissions, oldest first, 50 a page
//	GET  /submission?tenant=&id=       one submission: record, timeline, upstream request, document (and whether its bucket still keeps it: tracking.CheckDocument), events, dead letters
//	GET  /submission/cancel?tenant=&id= the confirmation step of cancelling a submission not sent yet: held, or claimed waiting for its upstream token (operator)
//	POST /submission/cancel            cancel it (operator, CSRF; logged): consumer.CancelUnsent, as iseed cancel
//	GET  /dead-letters?tenant=&reason= dead letters, oldest first
//	GET  /dead-letters/{seq}           one dead letter, its payload masked
//	GET  /dead-letters/{seq}/replay    the confirmation step of a replay (operator)
//	POST /dead-letters/{seq}/replay    replay it (operator, CSRF): dlq.Queue.Replay
//	POST /dead-letters/{seq}/reveal    show its payload's values, files as their size (operator, CSRF; logged): dlq.Mask, as iseed dlq show --reveal
//	GET  /spend                        spend by tenant, and every cap of each tenant and of the account with what counted ("not configured" without Deps.Spend)
//	GET  /login, POST /login, POST /logout
//	GET  /static/style.css
//
// A list's filter value that is not known (a state or a reason not among
// the list's choices, a malformed tenant) answers 400: the list page
// names the value and the known ones, and shows no list.
//
// Register leaves every other path (/metrics, /healthz, /readyz) to the
// daemon; the upstream's callbacks have a listener of their own
// (ISEED_CALLBACK_LISTEN).
//
// # Access
//
//   - No token (Config.Token empty): read-only, for whoever reaches the
//     listener; Check (and New) refuse a listener that is not loopback,
//     and a request that came through a reverse proxy (carrying
//     X-Forwarded-For, Forwarded or X-Real-IP) gets 403: a proxy would
//     serve it to whoever reaches the proxy. Replay and reveal answer 403 and their buttons are not shown.
//   - A token (ISEED_CONSOLE_TOKEN, at least MinTokenLen characters): every
//     page asks for it, as "Authorization: Bearer <token>" or once in the
//     login form, which sets a session cookie (HttpOnly, SameSite=Strict,
//     Secure over TLS, or when a proxy says X-Forwarded-Proto: https; a
//     random id per login and its expiry, signed with a key derived from
//     the token, never the token). Logging out revokes
//     the session on every replica: the replica that serves the logout at
//     once, the others through the keys bucket (console.revoked.<id>),
//     which Run watches into memory; a revocation NATS does not store is
//     kept and tried again, and the logout answers 503 saying so. Until Run
//     has read the stored revocations, no session cookie is accepted (503).
//     A keys bucket deleted and made anew is noticed within 5 s (a watch
//     of the old one would never deliver the new one's first logouts):
//     Run watches the new bucket, accepts no session cookie until it has
//     read it (503), keeps refusing the sessions it knew were logged out,
//     and stores those logouts again in the new bucket. A watch that has
//     lost its consumer (NATS restarted, or the node that held it failed)
//     is watched anew within seconds, not when nats.go misses heartbeats.
//     A request that presents a bearer token (the scheme in any case) is
//     authenticated by it alone; a wrong or empty one gets 401 with
//     "WWW-Authenticate: Bearer" and a line of plain text, as does a
//     request without a token that takes no HTML (Accept:
//     application/json): a script cannot fill in the login form. A browser
//     without a session is redirected to it.
//     The token is compared in constant time.
//     Wrong tokens, in the login form or a bearer header, are limited per
//     client address (IPv6: per /64): the peer's, or, when the peer is one
//     of Config.TrustedProxies (ISEED_CONSOLE_TRUSTED_PROXIES), the
//     rightmost X-Forwarded-For address that is not; from any other peer
//     the header is ignored. Five, then one a second, counted by each
//     replica on its own (no coordinator); past the limit the
//     address's logins and bearer requests answer 429 without comparing
//     the token. The limit is per address, and beyond failSources
//     addresses per network (/24, IPv6 /48), so a stranger's guessing
//     does not lock the operator out. Each wrong token is logged (the client
//     address as remote, as in every log line; never the token). The
//     authenticated may replay and reveal.
//   - Every page answers only to the hosts it is configured for: IP
//     addresses, localhost, the host of the listen address and
//     Config.Hosts (ISEED_CONSOLE_HOSTS). A request naming another host
//     (a page whose own name was rebound to the console's address) gets
//     421 and nothing of the console.
//   - Every POST passes net/http's cross-origin protection, reads at most
//     16 KiB of form, and, when authenticated by the cookie, must carry the
//     session's CSRF token (a MAC of the cookie).
//   - Every response carries Content-Security-Policy (default-src 'self',
//     no scripts), X-Frame-Options DENY, Referrer-Policy no-referrer,
//     nosniff and Cache-Control no-store (Secure). The daemon serves the
//     whole mux wrapped with Secure, so that the answers http.ServeMux
//     writes itself (404, 405, the redirects of a cleaned path or a
//     missing trailing slash) carry them too.
//   - A page writes every character it would not show as itself (bidi
//     overrides and isolates, C1 controls, zero-width characters) as the
//     text \uXXXX: what a tenant or the upstream chose cannot reorder or
//     hide the text around it.
//
// # Personal data
//
// The console shows tenants, submission ids, services, states, reasons,
// codes, times and amounts. It never shows a record's metadata or problem
// messages, a document's file name, nor an event's data beyond its state.
// A dead letter's payload is masked (Mask) unless an operator reveals it,
// which is logged; revealed, an inline file still shows only as its name,
// type and size (dlq.Mask, what iseed dlq show --reveal shows). Masked or
// revealed, the page shows the first 64 KiB of the indented payload,
// indenting no more than that, saying when it is cut and that iseed dlq
// show (--reveal) prints the whole one; masked, a value nested deeper than
// dlq.MaxDepth shows as dlq.TooDeep.
package console
