package console

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// hosts are the names the console answers to, beside IP addresses and
// localhost. A page of another origin that gets its own name resolved to
// the console's address (DNS rebinding) makes the browser send that name
// as Host: refusing it keeps the console's pages from that origin. An IP
// address or localhost cannot be an attacker's name, so both are always
// served (kubectl port-forward, a pod's address, curl).
type hosts map[string]bool

// newHosts returns the host of listen, when it is a name, and the names
// of extra (ISEED_CONSOLE_HOSTS), or an error naming a bad one.
func newHosts(listen string, extra []string) (hosts, error) {
	h := hosts{}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		h[normalHost(host)] = true
	}
	for _, e := range extra {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !validHost(e) {
			return nil, fmt.Errorf("console: ISEED_CONSOLE_HOSTS: %q is not a host name; list the names browsers use to reach the console, without scheme, port or path, separated by commas (iseed.example.com,iseed)", e)
		}
		h[normalHost(e)] = true
	}
	return h, nil
}

// CheckHosts says whether every entry of hosts (ISEED_CONSOLE_HOSTS) is a
// host name the console can answer to; the error says what to change.
func CheckHosts(hosts []string) error {
	_, err := newHosts("", hosts)
	return err
}

// validHost reports whether s is a DNS name or an IP address, without
// port.
func validHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// normalHost is host as compared: lower case, without a final dot.
func normalHost(host string) string { return strings.TrimSuffix(strings.ToLower(host), ".") }

// allows reports whether a request with Host hostport is for the console.
func (h hosts) allows(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport // no port
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	host = normalHost(host)
	return host == "localhost" || h[host]
}

// HostOnly is next answering only the hosts the console answers to: IP
// addresses, localhost, the host of listen and names (ISEED_CONSOLE_HOSTS,
// checked with the configuration: a name that is not one is left out). A
// request naming another host gets 421 and nothing of next, and a warning
// at most once a minute, naming the client's address as the console's
// lines do (trusted: ISEED_CONSOLE_TRUSTED_PROXIES). For what the admin
// listener serves beside the console that a page of another origin must
// not read (/metrics names every tenant and what it spent).
func HostOnly(listen string, names []string, trusted []netip.Prefix, log zerolog.Logger, next http.Handler) http.Handler {
	h, err := newHosts(listen, nil)
	if err != nil {
		h = hosts{}
	}
	for _, n := range names {
		if n = strings.TrimSpace(n); validHost(n) {
			h[normalHost(n)] = true
		}
	}
	c := &Console{hosts: h, proxies: trusted, log: log.With().Str("component", "console").Logger(), hostWarn: &rate.Sometimes{First: 1, Interval: time.Minute}}
	return c.hostOnly(next)
}

// Direct is next answering only requests that did not come through a
// reverse proxy (forwarded: X-Forwarded-For, Forwarded or X-Real-IP); the
// others get 403 and nothing of next. For /metrics: Prometheus scrapes
// the listener itself, while a proxy in front of the console is the
// public's way in, and /metrics names every tenant and what it spent.
func Direct(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if forwarded(r) {
			http.Error(w, "403 forbidden: this is not served through a reverse proxy; scrape the listener itself", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostOnly refuses, with 421 and nothing of the console, a request whose
// Host the console does not answer to.
func (c *Console) hostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.hosts.allows(r.Host) {
			c.hostWarn.Do(func() {
				c.log.Warn().Str("host", truncate(r.Host, 100)).Str("remote", c.remote(r)).
					Msg("console: request for a host it does not answer to refused (at most one such line a minute); if the name is yours, add it to ISEED_CONSOLE_HOSTS")
			})
			http.Error(w, "421 misdirected request: this console does not answer to that host name", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
