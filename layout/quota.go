package layout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// The tenant quota (Layout.TenantMaxSubmissions). Every tenant publishes
// to its own subject of the one submissions stream, <prefix>.submissions.
// <tenant>, so JetStream's per-subject limit is a per-tenant limit: with
// MaxMsgsPerSubject and DiscardNewPerSubject the stream refuses a tenant's
// next submission once it holds that many of the tenant's (over
// Layout.Retention, ISEED_RETENTION: 30 days by default), and the producer's publish fails
// with the server's "maximum messages per subject exceeded" (JetStream
// error 10077): nothing is stored, nothing of another tenant's is
// touched. With the tenant's NATS account's max_payload it bounds what
// one tenant can store in the stream that every tenant shares.
//
// JetStream applies a lowered per-subject limit to the messages a stream
// already holds by deleting each subject's oldest ones. Ensure therefore
// never lowers it under what a tenant holds: it refuses with a
// *QuotaBelowUseError instead, before it changes the stream. The check and
// the update are two requests: a tenant publishing between them, while no
// lower limit holds it back yet, can pass the new quota, and JetStream
// then deletes that tenant's own oldest submissions (the stream keeps them
// Layout.Retention, 30 days by default: handled long before, unless the
// backlog is that old). Nothing of
// another tenant's is touched.

// AtQuota reports whether err is the submissions stream refusing a
// publication because its subject (a tenant's) holds as many messages as
// the quota allows. The server gives that refusal no code of its own:
// 10077 (JSStreamStoreFailedF) is any failed store, and only its
// description tells this one apart.
func AtQuota(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == codeStoreFailed &&
		strings.Contains(apiErr.Description, "maximum messages per subject")
}

// codeStoreFailed is JSStreamStoreFailedF: the stream did not store the
// message (its description says why).
const codeStoreFailed jetstream.ErrorCode = 10077

// QuotaBelowUseError is Ensure refusing a tenant quota lower than what
// tenants already hold in the submissions stream: applied, it would have
// deleted their oldest submissions.
type QuotaBelowUseError struct {
	Quota int64
	Over  map[string]uint64 // tenant: submissions the stream holds
}

func (e *QuotaBelowUseError) Error() string {
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(e.Over)) {
		parts = append(parts, fmt.Sprintf("%s holds %d", t, e.Over[t]))
	}
	return fmt.Sprintf("layout: a tenant quota of %d submissions is below what tenants hold in the submissions stream (%s): "+
		"JetStream would delete their oldest submissions to apply it", e.Quota, strings.Join(parts, ", "))
}

// applyQuota sets cfg's per-tenant limit from the layout: none with a zero
// quota.
func (l Layout) applyQuota(cfg *jetstream.StreamConfig) {
	if l.TenantMaxSubmissions <= 0 {
		return
	}
	cfg.MaxMsgsPerSubject = l.TenantMaxSubmissions
	cfg.Discard = jetstream.DiscardNew
	cfg.DiscardNewPerSubject = true
}

// QuotaChange is Ensure changing the tenant quota an existing submissions
// stream had (0: none). Every replica applies its own
// ISEED_TENANT_MAX_SUBMISSIONS when it starts, so replicas started with
// different values undo each other's, and one started without the
// variable removes the quota: the caller says so.
type QuotaChange struct {
	From, To int64
}

// quota is the layout's tenant quota, 0 for none.
func (l Layout) quota() int64 { return max(l.TenantMaxSubmissions, 0) }

// checkQuota returns a *QuotaBelowUseError when applying the layout's
// quota to the existing submissions stream would delete messages: a quota
// set where none was, or lowered, under what a tenant's subject holds.
// Otherwise it returns the quota the stream has: 0 for none, -1 when there
// is no stream yet, or when the layout has no quota (nothing to check: the
// stream is not read).
func (l Layout) checkQuota(ctx context.Context, js jetstream.JetStream) (int64, error) {
	if l.quota() == 0 {
		return -1, nil
	}
	s, err := js.Stream(ctx, l.SubmissionsStream())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", l.SubmissionsStream(), err)
	}
	cur := max(s.CachedInfo().Config.MaxMsgsPerSubject, 0)
	if cur > 0 && cur <= l.quota() {
		return cur, nil // kept or raised: nothing to delete
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(l.SubmissionSubject("*")))
	if err != nil {
		return 0, fmt.Errorf("stream %s: the submissions each tenant holds: %w", l.SubmissionsStream(), err)
	}
	over := map[string]uint64{}
	for subject, n := range info.State.Subjects {
		if n > uint64(l.TenantMaxSubmissions) {
			over[l.TenantOf(subject)] = n
		}
	}
	if len(over) > 0 {
		return 0, &QuotaBelowUseError{Quota: l.TenantMaxSubmissions, Over: over}
	}
	return cur, nil
}
