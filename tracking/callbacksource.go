package tracking

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/rs/zerolog"
)

// The source of a forged callback, for its log line, so that an operator
// can block it at the ingress: "peer", the address of the connection's
// other end, the only one iseed knows to be true; and, when the request
// carries X-Forwarded-For, "forwarded_for_untrusted", that header as
// received. The header is not believed, on this listener or any: no
// decision depends on a callback's address (its limits are per submission
// and overall), so nothing would be gained by trusting proxies here, and
// ISEED_CONSOLE_TRUSTED_PROXIES names the console's proxies, not the way
// in from the Internet. When the peer is the operator's own ingress, the
// rightmost entry is the client that ingress saw; every entry left of it
// is the client's to write.

// maxForwardHops is how many X-Forwarded-For entries a line keeps, the
// rightmost: those the proxies nearest iseed appended.
const maxForwardHops = 4

// withSource adds the source of r to e (peer, forwarded_for_untrusted).
// Nothing is read when e is sampled out.
func withSource(e *zerolog.Event, r *http.Request) *zerolog.Event {
	if !e.Enabled() {
		return e
	}
	e = e.Str("peer", peerAddr(r))
	if hops, ok := r.Header["X-Forwarded-For"]; ok {
		e = e.Str("forwarded_for_untrusted", forwardedHops(hops))
	}
	return e
}

// peerAddr is the IP address of r's peer, unmapped; "?" when RemoteAddr
// holds none (it is the server's to set, but only an address is logged).
func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "?"
	}
	return a.Unmap().String()
}

// forwardedHops is the X-Forwarded-For header lines as one list, its
// rightmost maxForwardHops entries, comma-separated: each an address
// (without a port), or "?" for an entry that is not one, so that nothing
// a sender writes but addresses reaches the log; "…" first when entries
// were cut.
func forwardedHops(lines []string) string {
	var hops []string
	for _, line := range lines {
		hops = append(hops, strings.Split(line, ",")...)
	}
	var out []string
	if len(hops) > maxForwardHops {
		out = append(out, "…")
		hops = hops[len(hops)-maxForwardHops:]
	}
	for _, h := range hops {
		out = append(out, hopAddr(h))
	}
	return strings.Join(out, ", ")
}

// hopAddr reads one X-Forwarded-For entry: an address, perhaps with a
// port or in brackets; "?" for anything else.
func hopAddr(s string) string {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().String()
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap().String()
	}
	return "?"
}
