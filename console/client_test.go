package console

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestClientAddress: the address wrong tokens count against and log lines
// name. X-Forwarded-For is read only from a trusted proxy, from the right,
// up to the first address that is not a trusted proxy; an IPv6 client
// counts as its /64.
func TestClientAddress(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", " 192.0.2.10 ", "", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	// As a dual-stack socket's peer is often written (::ffff:10.20.0.5).
	mapped, err := ParseTrustedProxies([]string{"::ffff:10.20.0.0/112"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		proxies []netip.Prefix
		peer    string
		xff     []string // X-Forwarded-For lines
		remote  string   // what log lines name
		source  string   // what failures count against
	}{
		{"direct", nil, "192.0.2.1:1234", nil, "192.0.2.1", "192.0.2.1"},
		{"direct, mapped", nil, "[::ffff:192.0.2.1]:1234", nil, "192.0.2.1", "192.0.2.1"},
		{"direct, IPv6", nil, "[2001:db8:1:2:3:4:5:6]:1234", nil, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"not an address", nil, "@", nil, "@", "@"},
		{"no trusted proxies: the header is ignored", nil, "10.1.2.3:1234", []string{"198.51.100.7"}, "10.1.2.3", "10.1.2.3"},
		{"a forged header from an untrusted peer", trusted, "203.0.113.9:1234", []string{"198.51.100.7, 10.1.2.3"}, "203.0.113.9", "203.0.113.9"},
		{"through a trusted proxy", trusted, "10.1.2.3:1234", []string{"198.51.100.7"}, "198.51.100.7", "198.51.100.7"},
		{"the client's own entries on the left are skipped", trusted, "10.1.2.3:1234", []string{"1.1.1.1, 2.2.2.2, 198.51.100.7"}, "198.51.100.7", "198.51.100.7"},
		{"through two trusted proxies", trusted, "10.1.2.3:1234", []string{"1.1.1.1, 198.51.100.7, 192.0.2.10"}, "198.51.100.7", "198.51.100.7"},
		{"several header lines", trusted, "10.1.2.3:1234", []string{"1.1.1.1", "198.51.100.7, 10.9.9.9"}, "198.51.100.7", "198.51.100.7"},
		{"a trusted proxy, mapped", trusted, "[::ffff:10.1.2.3]:1234", []string{"198.51.100.7"}, "198.51.100.7", "198.51.100.7"},
		{"entries with a port or brackets", trusted, "10.1.2.3:1234", []string{"[2001:db8::1]:443, 10.0.0.1:80"}, "2001:db8::1", "2001:db8::/64"},
		{"an IPv6 client through an IPv6 proxy", trusted, "[fd00::1]:1234", []string{"2001:db8:1:2::5"}, "2001:db8:1:2::5", "2001:db8:1:2::/64"},
		{"every entry a trusted proxy: the leftmost", trusted, "10.1.2.3:1234", []string{"10.0.0.7, 10.0.0.8"}, "10.0.0.7", "10.0.0.7"},
		{"a trusted proxy without the header", trusted, "10.1.2.3:1234", nil, "10.1.2.3", "10.1.2.3"},
		{"not an address: the last proxy read", trusted, "10.1.2.3:1234", []string{"198.51.100.7, unknown, 10.0.0.8"}, "10.0.0.8", "10.0.0.8"},
		{"a proxy listed as an IPv4-mapped CIDR", mapped, "10.20.0.5:1234", []string{"198.51.100.7"}, "198.51.100.7", "198.51.100.7"},
		{"a proxy listed as an IPv4-mapped CIDR, mapped peer", mapped, "[::ffff:10.20.0.5]:1234", []string{"198.51.100.7"}, "198.51.100.7", "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Console{proxies: tt.proxies}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, line := range tt.xff {
				r.Header.Add("X-Forwarded-For", line)
			}
			if got := c.remote(r); got != tt.remote {
				t.Errorf("remote: got %q, want %q", got, tt.remote)
			}
			if got := c.source(r).addr; got != tt.source {
				t.Errorf("source: got %q, want %q", got, tt.source)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		list []string
		want string // the prefixes, or a substring of the error
	}{
		{nil, ""},
		{[]string{"10.0.0.0/8", "192.0.2.10", "2001:db8::/32", "::ffff:192.0.2.11"}, "10.0.0.0/8 192.0.2.10/32 2001:db8::/32 192.0.2.11/32"},
		{[]string{"10.1.2.3/8"}, "10.0.0.0/8"},
		{[]string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.11/128"}, "10.0.0.0/8 192.0.2.11/32"},
		{[]string{"::ffff:0.0.0.0/96"}, "trusts every address"},
		{[]string{"ingress.example.com"}, "is not a CIDR or an IP address"},
		{[]string{"10.0.0.0/33"}, "is not a CIDR or an IP address"},
		{[]string{"0.0.0.0/0"}, "trusts every address"},
		{[]string{"::/0"}, "trusts every address"},
	}
	for _, tt := range tests {
		got, err := ParseTrustedProxies(tt.list)
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		switch {
		case err != nil && (tt.want == "" || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "ISEED_CONSOLE_TRUSTED_PROXIES")):
			t.Errorf("%q: got error %v, want %q", tt.list, err, tt.want)
		case err == nil && strings.Join(s, " ") != tt.want:
			t.Errorf("%q: got %q, want %q", tt.list, strings.Join(s, " "), tt.want)
		}
	}
}
