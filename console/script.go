package console

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// realm is the realm of the console's bearer challenge.
const realm = `Bearer realm="iseed console"`

// browser reports whether r, unauthenticated, is best answered with the
// login form (a redirect to it): it presents no bearer token, and it takes
// an HTML page (its Accept header, if any, admits text/html). A script that
// sent a token, or that asks for JSON only, cannot fill in a form: it gets
// 401 (unauthorized).
func browser(r *http.Request) bool {
	if _, ok := bearerOf(r); ok {
		return false
	}
	return acceptsHTML(r.Header.Values("Accept"))
}

// acceptsHTML reports whether the Accept header's values admit text/html:
// none or blank, or a range text/html, text/* or */* whose weight is not 0.
func acceptsHTML(accept []string) bool {
	if strings.TrimSpace(strings.Join(accept, "")) == "" {
		return true
	}
	for _, v := range accept {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(part)
			if err != nil || (mt != "text/html" && mt != "text/*" && mt != "*/*") {
				continue
			}
			if q, err := strconv.ParseFloat(params["q"], 64); err != nil || q > 0 {
				return true
			}
		}
	}
	return false
}

// unauthorized answers a script that is not authenticated: 401 with a
// bearer challenge (RFC 6750; error="invalid_token" when it sent a token)
// and a line of plain text, as the 421 of a wrong host is. It says nothing
// of the token but that it is not the console's.
func (c *Console) unauthorized(w http.ResponseWriter, r *http.Request) {
	challenge, msg := realm, "401 unauthorized: this console needs its token, as the header Authorization: Bearer <ISEED_CONSOLE_TOKEN>"
	if token, ok := bearerOf(r); ok && token != "" {
		challenge += `, error="invalid_token"`
		msg = "401 unauthorized: that bearer token is not this console's token"
	}
	w.Header().Set("WWW-Authenticate", challenge)
	http.Error(w, msg, http.StatusUnauthorized)
}
