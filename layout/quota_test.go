package layout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTenantQuota: with a quota, the submissions stream refuses a tenant's
// submission over it, with the server's words and nothing stored, and
// another tenant's still go in. A quota below what a tenant holds is
// refused before the stream changes (JetStream would delete the tenant's
// oldest submissions to apply it); a quota at or above it, or none, is
// applied.
func TestTenantQuota(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	publish := func(tenant string, i int) error {
		m := nats.NewMsg(Layout{}.WithDefaults().SubmissionSubject(tenant))
		m.Data = []byte(`{}`)
		m.Header.Set(jetstream.MsgIDHeader, tenant+"-"+strconv.Itoa(i))
		_, err := srv.JS.PublishMsg(ctx, m)
		return err
	}
	held := func(tenant string) uint64 {
		s, err := srv.JS.Stream(ctx, Layout{}.WithDefaults().SubmissionsStream())
		if err != nil {
			t.Fatal(err)
		}
		subj := Layout{}.WithDefaults().SubmissionSubject(tenant)
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[subj]
	}

	// No quota: a tenant publishes five.
	if _, err := Ensure(ctx, srv.JS, Layout{}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := publish("flood", i); err != nil {
			t.Fatal(err)
		}
	}

	// A quota of 3 would delete two of flood's: refused, nothing changed.
	_, err := Ensure(ctx, srv.JS, Layout{TenantMaxSubmissions: 3})
	var below *QuotaBelowUseError
	if !errors.As(err, &below) || below.Over["flood"] != 5 || len(below.Over) != 1 {
		t.Fatalf("Ensure with a quota under what flood holds: got %v, want a QuotaBelowUseError naming flood with 5", err)
	}
	if n := held("flood"); n != 5 {
		t.Fatalf("flood holds %d after the refused quota, want its 5", n)
	}

	// A quota of 6: flood may publish one more, then the stream refuses.
	if _, err := Ensure(ctx, srv.JS, Layout{TenantMaxSubmissions: 6}); err != nil {
		t.Fatal(err)
	}
	if err := publish("flood", 5); err != nil {
		t.Fatalf("flood's 6th: %v", err)
	}
	err = publish("flood", 6)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 || apiErr.Description != "maximum messages per subject exceeded" {
		t.Fatalf("flood's 7th: got %v, want JetStream's 10077 maximum messages per subject exceeded", err)
	}
	if !AtQuota(fmt.Errorf("publish: %w", err)) {
		t.Errorf("AtQuota(%v) is false", err)
	}
	if AtQuota(&jetstream.APIError{ErrorCode: 10077, Description: "maximum bytes exceeded"}) || AtQuota(errors.New(apiErr.Description)) {
		t.Error("AtQuota is true for another store failure, or for a text that is no JetStream error")
	}
	if n := held("flood"); n != 6 {
		t.Errorf("flood holds %d, want 6", n)
	}
	if err := publish("other", 0); err != nil {
		t.Errorf("another tenant's submission while flood is at its quota: %v", err)
	}
	// Lowered to what flood holds: nothing to delete, applied.
	if _, err := Ensure(ctx, srv.JS, Layout{TenantMaxSubmissions: 6}); err != nil {
		t.Errorf("the same quota again: %v", err)
	}

	// No quota again: flood publishes.
	if _, err := Ensure(ctx, srv.JS, Layout{}); err != nil {
		t.Fatal(err)
	}
	if err := publish("flood", 7); err != nil {
		t.Errorf("flood's 8th after the quota was lifted: %v", err)
	}
}

// TestQuotaChangeReported: Ensure says when it changes the quota an
// existing submissions stream had, a replica started without the variable
// removing it included, so that replicas started with different values do
// not undo each other's unseen.
func TestQuotaChangeReported(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	for _, step := range []struct {
		quota int64
		want  *QuotaChange
	}{
		{6, nil},                          // a new stream: nothing changed
		{6, nil},                          // kept
		{8, &QuotaChange{From: 6, To: 8}}, // raised
		{0, &QuotaChange{From: 8, To: 0}}, // removed by a replica without the variable
		{0, nil},                          // none, kept
		{-1, nil},                         // negative is none too
		{5, &QuotaChange{From: 0, To: 5}}, // set where none was
	} {
		res, err := Ensure(ctx, srv.JS, Layout{TenantMaxSubmissions: step.quota})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.QuotaChanged; (got == nil) != (step.want == nil) || got != nil && *got != *step.want {
			t.Errorf("Ensure with a quota of %d: QuotaChanged %+v, want %+v", step.quota, got, step.want)
		}
		cfg := res.Submissions.CachedInfo().Config
		if want := max(step.quota, 0); max(cfg.MaxMsgsPerSubject, 0) != want {
			t.Errorf("Ensure with a quota of %d: the stream's MaxMsgsPerSubject is %d, want %d", step.quota, cfg.MaxMsgsPerSubject, want)
		}
	}
}
