package console

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxies are the reverse proxies in front of the console whose
// X-Forwarded-For is believed (ISEED_CONSOLE_TRUSTED_PROXIES).
type proxies []netip.Prefix

// ParseTrustedProxies parses ISEED_CONSOLE_TRUSTED_PROXIES: CIDRs or
// single IP addresses; empty entries are skipped. The error says what to
// change.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range list {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		p, err := netip.ParsePrefix(e)
		if err != nil {
			a, aerr := netip.ParseAddr(e)
			if aerr != nil {
				return nil, fmt.Errorf("console: ISEED_CONSOLE_TRUSTED_PROXIES: %q is not a CIDR or an IP address; list the addresses of the reverse proxies in front of the console (an ingress controller's pods, a load balancer), separated by commas (10.0.0.0/8,192.0.2.10)", e)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			// An IPv4-mapped CIDR (::ffff:10.0.0.0/104) is the IPv4 one:
			// client compares unmapped addresses.
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("console: ISEED_CONSOLE_TRUSTED_PROXIES: %q trusts every address, so any client could name its own in X-Forwarded-For; list only the reverse proxies' addresses", e)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// trusted reports whether a is one of the proxies.
func (p proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, pr := range p {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// client is the address of r's client: its peer's, unless the peer is a
// trusted proxy; then the rightmost address of X-Forwarded-For that is not
// itself a trusted proxy. That is the address the nearest proxy we trust
// saw: everything left of it, the client may have written. When every
// address is a trusted proxy, it is the leftmost; at an entry that is not
// an address, the last proxy read. Without trusted proxies the header is
// never read. A peer address that does not parse is returned as it is.
func (p proxies) client(r *http.Request) string {
	addr, host, ok := peer(r)
	if !ok {
		return host
	}
	if len(p) == 0 || !p.trusted(addr) {
		return addr.String()
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			break
		}
		addr = hop
		if !p.trusted(hop) {
			break
		}
	}
	return addr.String()
}

// peer is the address of r's peer, unmapped; when it does not parse, ok
// is false and host is what RemoteAddr holds.
func peer(r *http.Request) (addr netip.Addr, host string, ok bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err = netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, host, false
	}
	return addr.Unmap(), host, true
}

// forwarded reports whether r came through a reverse proxy, as far as
// can be told: it carries a header that proxies add (X-Forwarded-For,
// Forwarded, X-Real-IP). A proxy that adds none cannot be told from a
// client; a client that writes one itself is only refused what a proxy
// would be. Not the peer's address: a proxy on the same host as
// Prometheus or the operator's shell shares their address (a listed
// 127.0.0.1 would refuse them too), and a listed proxy appends
// X-Forwarded-For anyway (ISEED_CONSOLE_TRUSTED_PROXIES lists only such).
func forwarded(r *http.Request) bool {
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"} {
		if _, ok := r.Header[h]; ok {
			return true
		}
	}
	return false
}

// forwardedFor is every X-Forwarded-For entry, in order: several header
// lines read as one list.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(line, ",")...)
	}
	return hops
}

// parseHop reads one X-Forwarded-For entry: an address, perhaps with a
// port or in brackets.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// remote is the address of r's client (see proxies.client), for log lines.
func (c *Console) remote(r *http.Request) string { return c.proxies.client(r) }

// source is what r's failed token attempts count against.
type source struct {
	addr  string // the client's IP, or for IPv6 its /64, which one host usually holds whole
	group string // its network: the /24, the IPv6 /48 (failures, beyond failSources addresses)
}

// source is the source of r's client (proxies.client).
func (c *Console) source(r *http.Request) source {
	client := c.proxies.client(r)
	ip, err := netip.ParseAddr(client)
	if err != nil {
		return source{addr: client, group: client}
	}
	if ip.Is4() {
		g, _ := ip.Prefix(24)
		return source{addr: client, group: g.String()}
	}
	a, _ := ip.Prefix(64)
	g, _ := ip.Prefix(48)
	return source{addr: a.String(), group: g.String()}
}
