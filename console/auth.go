package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// sessionCookie holds a login: "v2.<random id>.<expiry unix>.<HMAC>",
// never the token.
const sessionCookie = "iseed_console"

// csrfField is the form field carrying the CSRF token.
const csrfField = "csrf"

// maxForm bounds a form's body.
const maxForm = 16 << 10

// identity says how a request is authenticated.
type identity int

const (
	nobody  identity = iota
	bearer           // Authorization: Bearer <token>: not a browser's ambient credential
	session          // the session cookie
)

// auth checks the token and issues and checks sessions and CSRF tokens.
// Every MAC is keyed by a key derived from the token, so changing the
// token ends every session. Sessions are signed, not stored, so that any
// replica sharing the token accepts them; a logout revokes its session's
// id on every replica (revocations) until the session would have expired.
type auth struct {
	token  [sha256.Size]byte // SHA-256 of the token, compared in constant time
	key    []byte
	ttl    time.Duration
	now    func() time.Time
	noAuth bool
	// revoked are the sessions logged out: checked in memory, shared
	// through NATS.
	revoked *revocations
}

func newAuth(token string, ttl time.Duration, now func() time.Time, revoked *revocations) *auth {
	k := sha256.Sum256([]byte("iseed-console-v1\x00" + token))
	return &auth{token: sha256.Sum256([]byte(token)), key: k[:], ttl: ttl, now: now, noAuth: token == "", revoked: revoked}
}

// tokenOK compares s with the token in constant time (of the digests: no
// length leaks either).
func (a *auth) tokenOK(s string) bool {
	if a.noAuth {
		return false
	}
	d := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(d[:], a.token[:]) == 1
}

func (a *auth) mac(parts ...string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSession returns a new session cookie's value, valid for ttl: a
// random id (128 bits), so that no two logins share one, and its expiry,
// signed.
func (a *auth) newSession() string {
	id, exp := rand.Text(), strconv.FormatInt(a.now().Add(a.ttl).Unix(), 10)
	return "v2." + id + "." + exp + "." + a.mac("session", id, exp)
}

// parseSession returns the id and expiry of a session cookie's value,
// or ok false when it is not one this token signed.
func (a *auth) parseSession(v string) (id string, exp int64, ok bool) {
	parts := strings.Split(v, ".")
	if a.noAuth || len(parts) != 4 || parts[0] != "v2" {
		return "", 0, false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !hmac.Equal([]byte(parts[3]), []byte(a.mac("session", parts[1], parts[2]))) {
		return "", 0, false
	}
	return parts[1], exp, true
}

// sessionOK checks a session cookie's value: its MAC, its expiry, and
// that it was not logged out (nor may have been: until the logged-out
// sessions are known, none is accepted).
func (a *auth) sessionOK(v string) bool {
	id, exp, ok := a.parseSession(v)
	return ok && a.now().Unix() < exp && a.revoked.ready() && !a.revoked.has(id)
}

// noticeTTL is how long the list shows the notice a replay's redirect
// signed: the redirect is followed at once; a reload later shows the list
// alone.
const noticeTTL = 5 * time.Minute

// noticeField carries a notice's signature: "<expiry unix>.<HMAC>".
const noticeField = "sig"

// signNotice signs the notice that fields, the redirect's query after a
// replay, carry (noticeOK), until noticeTTL from now.
func (a *auth) signNotice(fields url.Values, names ...string) {
	exp := strconv.FormatInt(a.now().Add(noticeTTL).Unix(), 10)
	fields.Set(noticeField, exp+"."+a.mac("notice", exp, noticeOf(fields, names)))
}

// noticeOK reports whether fields carry a notice this console signed and
// that has not expired, so that a link anyone may write cannot make the
// list say that a dead letter was replayed (and tell the operator to purge
// it). Without a token nothing is signed: no replay happens there either.
func (a *auth) noticeOK(fields url.Values, names ...string) bool {
	exp, sig, ok := strings.Cut(fields.Get(noticeField), ".")
	until, err := strconv.ParseInt(exp, 10, 64)
	return ok && err == nil && !a.noAuth && a.now().Unix() < until &&
		hmac.Equal([]byte(sig), []byte(a.mac("notice", exp, noticeOf(fields, names))))
}

// noticeOf is the signed part of a notice: the named fields, encoded so
// that no two notices sign the same text.
func noticeOf(fields url.Values, names []string) string {
	v := url.Values{}
	for _, n := range names {
		v.Set(n, fields.Get(n))
	}
	return v.Encode()
}

// bearerOf returns the token of r's "Authorization: Bearer <token>"
// header, and whether r has one. The scheme is matched without regard to
// case (RFC 9110, 11.1: "bearer" is "Bearer"); a header naming the scheme
// alone presents an empty token. Another scheme (Basic, which a proxy in
// front of the console may ask a browser for) presents none.
func bearerOf(r *http.Request) (token string, ok bool) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// identify says how r is authenticated, if at all. A request that
// presents a bearer token is authenticated by it alone, whatever cookie it
// carries: a script's wrong token is refused (guard answers 401), not
// covered by a session. A wrong bearer token counts against r's address as
// a wrong login does; while the address has no attempt left, its bearer
// token is not compared: identify answers 429 and returns false. An empty
// one is missing, not a guess: neither compared nor counted.
func (c *Console) identify(w http.ResponseWriter, r *http.Request) (identity, bool) {
	if h, ok := bearerOf(r); ok && !c.ReadOnly() {
		if h == "" {
			return nobody, true
		}
		src := c.source(r)
		allowed, ok, exhausted := c.fails.try(src.addr, src.group, func() bool { return c.auth.tokenOK(h) })
		if !allowed {
			c.tooMany(w, r)
			return nobody, false
		}
		if ok {
			return bearer, true
		}
		c.refused(r, "bearer", exhausted)
		return nobody, true
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if _, _, signed := c.auth.parseSession(ck.Value); signed && !c.auth.revoked.ready() {
			c.fail(w, r, http.StatusServiceUnavailable, "This console has not read the logged-out sessions from NATS yet, so it accepts no session: reload in a moment (a bearer token works meanwhile).")
			return nobody, false
		}
		if c.auth.sessionOK(ck.Value) {
			return session, true
		}
	}
	return nobody, true
}

// identityKey is the context key of the identity guard found for a
// request, so that the token is compared once per request.
type identityKey struct{}

// identityOf is the identity guard found for r (nobody before it looked).
func identityOf(r *http.Request) identity {
	id, _ := r.Context().Value(identityKey{}).(identity)
	return id
}

// csrf is the CSRF token of r's session: a MAC of its cookie.
func (a *auth) csrf(r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil && a.sessionOK(c.Value) {
		return a.mac("csrf", c.Value)
	}
	return ""
}

// csrfOK checks the CSRF field of a form posted with a session cookie.
func (a *auth) csrfOK(r *http.Request) bool {
	want := a.csrf(r)
	return want != "" && hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(want))
}

// cookie is the session cookie to set (value "" clears it).
func (a *auth) cookie(r *http.Request, value string) *http.Cookie {
	c := &http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https", MaxAge: int(a.ttl / time.Second)}
	if value == "" {
		c.MaxAge = -1
	}
	return c
}

// access is who may use a route.
type access int

const (
	anyone   access = iota // the login form
	viewer                 // everyone read-only; with a token, the authenticated
	operator               // only with a token, the authenticated
)

// guard wraps h with the security headers, the host check, the
// cross-origin check and the form size bound of every route, and lets
// through only who a allows.
func (c *Console) guard(a access, h http.HandlerFunc) http.Handler {
	return Secure(c.hostOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.ReadOnly() && forwarded(r) {
			c.proxied(w, r)
			return
		}
		id, ok := c.identify(w, r)
		if !ok {
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
		post := r.Method == http.MethodPost
		if post {
			if err := c.cross.Check(r); err != nil {
				c.fail(w, r, http.StatusForbidden, "Cross-origin request refused.")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				status := http.StatusBadRequest
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					status = http.StatusRequestEntityTooLarge
				}
				c.fail(w, r, status, "The form cannot be read (at most 16 KiB).")
				return
			}
		}
		switch {
		case a == operator && c.ReadOnly():
			c.fail(w, r, http.StatusForbidden, "This console is read-only: no ISEED_CONSOLE_TOKEN is configured, so nothing can be changed from it.")
			return
		case a != anyone && !c.ReadOnly() && id == nobody && !browser(r):
			c.unauthorized(w, r)
			return
		case a != anyone && !c.ReadOnly() && id == nobody && !post:
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case a != anyone && !c.ReadOnly() && id == nobody:
			c.fail(w, r, http.StatusForbidden, "Log in with the console token first.")
			return
		case post && a != anyone && id == session && !c.auth.csrfOK(r):
			c.fail(w, r, http.StatusForbidden, "The form has expired or did not come from this console (CSRF check failed). Go back, reload and try again.")
			return
		}
		h(w, r)
	})))
}

// operatorOf reports whether r may act (replay, reveal).
func (c *Console) operatorOf(r *http.Request) bool {
	return !c.ReadOnly() && identityOf(r) != nobody
}

// Secure is h with the headers every answer of the console's listener
// carries: a content security policy without scripts, no framing, no
// referrer, nosniff, no-store. The console's routes set them themselves;
// wrap the whole mux the console is registered on with Secure too, or
// what http.ServeMux answers on its own (404 for an unknown path, 405
// for a wrong method, the redirects of a cleaned path or of a missing
// trailing slash) goes out without them.
func Secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; object-src 'none'; img-src 'self' data:; "+
			"style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// safeNext returns next when it is a path on this site, else "/". A
// browser removes tabs and newlines from a Location and reads a backslash
// as a slash ("/<tab>/evil.example" is "//evil.example", another site), so
// a next with a control character is refused whole.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	return next
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", "Log in", loginData{Next: safeNext(r.URL.Query().Get("next")), ReadOnly: c.ReadOnly()})
}

type loginData struct {
	Next     string
	ReadOnly bool
	Failed   bool
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if c.ReadOnly() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	src := c.source(r)
	token := r.PostFormValue("token")
	allowed, ok, exhausted := c.fails.try(src.addr, src.group, func() bool { return c.auth.tokenOK(token) })
	if !allowed {
		c.tooMany(w, r)
		return
	}
	if !ok {
		c.refused(r, "login form", exhausted)
		w.Header().Set("WWW-Authenticate", realm) // a 401 names its scheme (RFC 9110, 15.5.2); no browser prompts for Bearer
		c.render(w, r, http.StatusUnauthorized, "login", "Log in", loginData{Next: next, Failed: true})
		return
	}
	http.SetCookie(w, c.auth.cookie(r, c.auth.newSession()))
	audit(c.log).Str("remote", c.remote(r)).Msg("console login")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session of r's cookie on every replica and clears the
// cookie. When NATS does not store the revocation, only this replica
// refuses the session at once: the answer (503) says so, and this replica
// keeps trying to store it.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, c.auth.cookie(r, ""))
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	id, exp, ok := c.auth.parseSession(ck.Value)
	if !ok || c.cfg.Now().Unix() >= exp {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	// The revocation is stored even when the browser gives up waiting.
	if err := c.auth.revoked.revoke(context.WithoutCancel(r.Context()), id, exp); err != nil {
		until := time.Unix(exp, 0).UTC().Format("2006-01-02 15:04 UTC")
		c.log.Error().Err(err).Str("remote", c.remote(r)).Str("expires", until).
			Msg("console: logout not stored in NATS: other replicas accept the session until a retry (every second) stores it, or it expires")
		r = r.WithContext(context.WithValue(r.Context(), identityKey{}, nobody))
		c.fail(w, r, http.StatusServiceUnavailable, "You are logged out of this replica only: NATS did not store the logout, so the other replicas of the console still accept this session, until "+
			until+" at the latest. This replica keeps trying to store it. To end every session at once, change ISEED_CONSOLE_TOKEN on every replica.")
		return
	}
	audit(c.log).Str("remote", c.remote(r)).Msg("console logout")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// proxied refuses a request that came through a reverse proxy to a
// console without a token: read-only for whoever reaches it, it is for
// loopback only (Check), and a proxy would serve it to everyone who
// reaches the proxy. A warning at most once a minute says what to change.
func (c *Console) proxied(w http.ResponseWriter, r *http.Request) {
	c.proxyWarn.Do(func() {
		c.log.Warn().Str("remote", c.remote(r)).
			Msg("console: request through a reverse proxy refused: without ISEED_CONSOLE_TOKEN the console is for loopback only (at most one such line a minute); set ISEED_CONSOLE_TOKEN to serve it through a proxy")
	})
	c.fail(w, r, http.StatusForbidden, "This console has no token (ISEED_CONSOLE_TOKEN), so it is read-only for whoever reaches it and answers on loopback only, never through a reverse proxy. Set ISEED_CONSOLE_TOKEN to serve it through one.")
}

// tooMany answers a request whose address has no token attempt left; the
// token it carries is not even compared. A script (a bearer token, or no
// HTML taken) gets the line of plain text its 401 has.
func (c *Console) tooMany(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", strconv.Itoa(int(failEvery/time.Second)))
	const msg = "Too many wrong tokens from your address: wait a few seconds."
	if !browser(r) {
		http.Error(w, "429 too many requests: "+msg, http.StatusTooManyRequests)
		return
	}
	c.fail(w, r, http.StatusTooManyRequests, msg)
}

// refused logs a wrong token (never the token itself), counted already.
func (c *Console) refused(r *http.Request, via string, exhausted bool) {
	c.log.Warn().Str("remote", c.remote(r)).Str("via", via).Bool("limited", exhausted).
		Msg("console: wrong token refused")
}
