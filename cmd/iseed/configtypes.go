package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Schedule is a list of positive durations separated by commas, such as
// ISEED_POLL_SCHEDULE's "1m,5m,15m,1h". envconfig decodes it once.
type Schedule []time.Duration

// Decode implements envconfig.Decoder.
func (s *Schedule) Decode(v string) error {
	var out Schedule
	for part := range strings.SplitSeq(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return fmt.Errorf("want positive durations separated by commas such as 1m,5m,15m,1h, got %q", v)
		}
		out = append(out, d)
	}
	*s = out
	return nil
}

// String writes the schedule as it is configured.
func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

// URL is an optional absolute http(s) URL; envconfig decodes it once. The
// zero URL means unset.
type URL struct{ *url.URL }

// Decode implements envconfig.Decoder.
func (u *URL) Decode(v string) error {
	if v == "" {
		u.URL = nil
		return nil
	}
	p, err := url.Parse(v)
	if err != nil {
		// Not quoted: it may hold a password, and net/url's detail may
		// quote a piece of it.
		return errors.New("want an absolute http(s) URL, got one that does not parse (percent-encode a user name or password in it)")
	}
	if (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fmt.Errorf("want an absolute http(s) URL, got %q", p.Redacted())
	}
	u.URL = p
	return nil
}

// Set reports whether the URL was configured.
func (u URL) Set() bool { return u.URL != nil }

// String returns the URL, or "" when unset.
func (u URL) String() string {
	if u.URL == nil {
		return ""
	}
	return u.URL.String()
}

// Retention is a duration that "off" or 0 turns off, such as
// ISEED_RECORD_SCRUB_AFTER; envconfig decodes it once.
type Retention time.Duration

// Decode implements envconfig.Decoder.
func (r *Retention) Decode(v string) error {
	v = strings.TrimSpace(v)
	if v == "off" {
		*r = 0
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 2400h, or off (or 0), got %q", v)
	}
	*r = Retention(d)
	return nil
}

// On reports whether the retention is on.
func (r Retention) On() bool { return r > 0 }

// Duration is the retention (0 when off).
func (r Retention) Duration() time.Duration { return time.Duration(r) }
