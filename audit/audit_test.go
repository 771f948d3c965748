package audit_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/account"
	"github.com/iseed-dev/iseed/audit"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

const (
	hashISEE  = "6aa0789f5ba34684b2bc5ccf364f8929"
	hashNASPI = "61987f81efc1a1cdde3ba0f8f48a3aaa"
	req1      = "5f2829ce065afc21cc600001"
	req2      = "5f2829ce065afc21cc600002"
	req3      = "5f2829ce065afc21cc600003"
	req9      = "5f2829ce065afc21cc600009"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func march(t *testing.T) money.Period {
	loc, err := money.Rome()
	if err != nil {
		t.Fatal(err)
	}
	return money.Month(time.Date(2026, 3, 15, 0, 0, 0, 0, loc), loc)
}

func upstream(id, name, hash string, price float64, created string) visengine.RichiestaSummary {
	return visengine.RichiestaSummary{ID: id, State: new(visengine.Int(1)), Nome: name, HashVisura: hash, PrezzoVisura: visengine.Float(price),
		StatoRichiesta: visengine.StateInProgress, TimestampCreation: visengine.Timestamp(utc(created).Unix())}
}

func submitted(tenant, id, service, hash, req, at string) *record.Record {
	r := &record.Record{Tenant: tenant, ID: id, Service: service, ServiceHash: hash, Created: utc(at).Add(-5 * time.Second)}
	r.To(record.StateClaimed, r.Created, "")
	r.To(record.StateSubmitted, utc(at), "")
	r.RequestID = req
	return r
}

func entry(tenant, id, service, hash, req string, base, option money.Cents, at string) ledger.Entry {
	e := ledger.Entry{Tenant: tenant, SubmissionID: id, RequestID: req, Service: service, ServiceHash: hash,
		ServicePrice: base, Price: base + option, At: utc(at), Source: ledger.SourcePosted}
	if option != 0 {
		e.Options = []ledger.Option{{Name: "opzione_0", Type: "urgenza", Price: option}}
	}
	return e
}

func charge(id string, amount money.Cents, at, desc string) account.Transaction {
	return account.Transaction{ID: id, Amount: amount, CreatedAt: utc(at), Description: desc}
}

// base is a clean month: two requests, owned, entered and charged, plus a
// top-up and another API's charge.
func base(t *testing.T) audit.Input {
	return audit.Input{
		Period: march(t),
		Upstream: []visengine.RichiestaSummary{
			upstream(req1, "ISEE", hashISEE, 12, "2026-03-05T10:00:00Z"),
			upstream(req2, "NASPI", hashNASPI, 25, "2026-03-06T10:00:00Z"),
		},
		Records: []*record.Record{
			submitted("acme", "s1", "ISEE", hashISEE, req1, "2026-03-05T10:00:01Z"),
			submitted("beta", "s2", "NASPI", hashNASPI, req2, "2026-03-06T10:00:01Z"),
		},
		Index: map[string]string{req1: "acme.s1", req2: "beta.s2"},
		Ledger: []ledger.Entry{
			entry("acme", "s1", "ISEE", hashISEE, req1, 1200, 400, "2026-03-05T10:00:00Z"),
			entry("beta", "s2", "NASPI", hashNASPI, req2, 2500, 0, "2026-03-06T10:00:00Z"),
		},
		Transactions: []account.Transaction{
			charge("t1", -1600, "2026-03-05T10:00:00Z", "API usage - visengine2.altravia.com "+req1),
			charge("t2", -2500, "2026-03-06T10:00:00Z", "API usage - visengine2.altravia.com "+req2),
			charge("t3", 10000, "2026-03-07T10:00:00Z", "Wallet recharge"),
			charge("t4", -525, "2026-03-08T10:00:00Z", "API usage - sms.openapi.com"),
		},
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(in *audit.Input)
		want  audit.Counts
		check func(t *testing.T, r *audit.Result)
	}{
		{"clean", func(*audit.Input) {}, audit.Counts{}, nil},
		{"unowned with candidates", func(in *audit.Input) {
			in.Upstream = append(in.Upstream, upstream(req3, "ISEE", hashISEE, 12, "2026-03-07T12:00:30Z"))
			amb := &record.Record{Tenant: "acme", ID: "s3", ServiceHash: hashISEE, Created: utc("2026-03-07T12:00:00Z")}
			amb.To(record.StateFailed, utc("2026-03-07T12:05:00Z"), "ambiguous")
			amb.Reason = "ambiguous"
			pending := &record.Record{Tenant: "beta", ID: "s4", ServiceHash: hashISEE, State: record.StateClaimed, Created: utc("2026-03-07T11:00:00Z"),
				Pending: &record.Attempt{Started: utc("2026-03-07T12:00:10Z"), Until: utc("2026-03-07T12:01:10Z")}}
			otherService := &record.Record{Tenant: "acme", ID: "s5", ServiceHash: hashNASPI, State: record.StateClaimed, Created: utc("2026-03-07T12:00:00Z"),
				Pending: &record.Attempt{Started: utc("2026-03-07T12:00:00Z"), Until: utc("2026-03-07T12:01:00Z")}}
			tooEarly := &record.Record{Tenant: "acme", ID: "s6", ServiceHash: hashISEE, State: record.StateClaimed, Created: utc("2026-03-07T11:00:00Z"),
				Pending: &record.Attempt{Started: utc("2026-03-07T11:00:00Z"), Until: utc("2026-03-07T11:01:00Z")}}
			waiting := &record.Record{Tenant: "acme", ID: "s7", ServiceHash: hashISEE, State: record.StateClaimed, Created: utc("2026-03-07T12:00:00Z"),
				Pending: &record.Attempt{Started: utc("2026-03-07T12:00:00Z"), Until: utc("2026-03-07T12:01:00Z"), Unsent: true}} // sent nothing
			in.Records = append(in.Records, amb, pending, otherService, tooEarly, waiting)
		}, audit.Counts{Unowned: 1}, func(t *testing.T, r *audit.Result) {
			u := r.Unowned[0]
			var got []string
			for _, c := range u.Candidates {
				got = append(got, c.Tenant+"/"+c.SubmissionID)
			}
			if u.RequestID != req3 || u.Price != 1200 || !reflect.DeepEqual(got, []string{"acme/s3", "beta/s4"}) {
				t.Errorf("got %s at %s with candidates %v; want %s at 12.00 with acme/s3, beta/s4", u.RequestID, u.Price, got, req3)
			}
		}},
		{"drafts and other periods are not unowned", func(in *audit.Input) {
			draft := upstream(req3, "ISEE", hashISEE, 12, "2026-03-07T12:00:30Z")
			draft.State = new(visengine.Int(0))
			in.Upstream = append(in.Upstream, draft, upstream(req9, "ISEE", hashISEE, 12, "2026-03-31T22:00:00Z")) // April 1 in Rome
		}, audit.Counts{}, nil},
		{"a request listed without a state is no draft", func(in *audit.Input) {
			stateless := upstream(req3, "ISEE", hashISEE, 12, "2026-03-07T12:00:30Z")
			stateless.State = nil // "state" absent, or null
			in.Upstream = append(in.Upstream, stateless)
		}, audit.Counts{Unowned: 1}, nil},
		{"missing from the upstream", func(in *audit.Input) {
			in.Records = append(in.Records, submitted("acme", "s9", "ISEE", hashISEE, req9, "2026-03-09T10:00:00Z"))
			in.Ledger = append(in.Ledger, entry("acme", "s9", "ISEE", hashISEE, req9, 1200, 400, "2026-03-09T10:00:00Z"))
			in.Transactions = append(in.Transactions, charge("t9", -1600, "2026-03-09T10:00:00Z", "API usage - visengine2.altravia.com "+req9))
		}, audit.Counts{Missing: 1}, func(t *testing.T, r *audit.Result) {
			if m := r.Missing[0]; m.RequestID != req9 || !reflect.DeepEqual(m.Sources, []string{"record", "ledger"}) || m.Price != 1600 {
				t.Errorf("got %+v, want %s from record and ledger at 16.00", m, req9)
			}
		}},
		{"upstream price differs", func(in *audit.Input) { in.Upstream[0].PrezzoVisura = 13 },
			audit.Counts{Mismatches: 1}, wantMismatch(audit.Mismatch{RequestID: req1, Against: audit.AgainstUpstream, Ledger: 1600, Other: 1700})},
		{"wallet charged more", func(in *audit.Input) { in.Transactions[0].Amount = -1700 },
			audit.Counts{Mismatches: 1}, wantMismatch(audit.Mismatch{RequestID: req1, Against: audit.AgainstWallet, Ledger: 1600, Other: 1700})},
		{"wallet charged twice", func(in *audit.Input) { in.Transactions = append(in.Transactions, in.Transactions[0]) },
			audit.Counts{Mismatches: 1}, wantMismatch(audit.Mismatch{RequestID: req1, Against: audit.AgainstWallet, Ledger: 1600, Other: 3200})},
		{"wallet never charged", func(in *audit.Input) { in.Transactions = in.Transactions[:1] },
			audit.Counts{Mismatches: 1}, wantMismatch(audit.Mismatch{RequestID: req2, Against: audit.AgainstWallet, Ledger: 2500, Other: 0})},
		{"no wallet given, no wallet check", func(in *audit.Input) { in.Transactions = nil }, audit.Counts{}, func(t *testing.T, r *audit.Result) {
			if r.Checked.Wallet {
				t.Error("Checked.Wallet is true without transactions")
			}
		}},
		{"unledgered", func(in *audit.Input) { in.Ledger = in.Ledger[:1] }, audit.Counts{Unledgered: 1}, func(t *testing.T, r *audit.Result) {
			if u := r.Unledgered[0]; u.RequestID != req2 || u.Tenant != "beta" || u.State != record.StateSubmitted {
				t.Errorf("got %+v, want beta's %s", u, req2)
			}
		}},
		{"disowned by an operator: neither unowned nor unledgered", func(in *audit.Input) {
			in.Upstream = append(in.Upstream, upstream(req3, "ISEE", hashISEE, 12, "2026-03-07T12:00:30Z"))
			in.Index[req3] = record.Disowned("acme.s3")
		}, audit.Counts{}, nil},
		{"unledgered, owned by the index only", func(in *audit.Input) {
			in.Ledger = in.Ledger[:1]
			in.Records[1].RequestID = "" // a crash between the index and the record
		}, audit.Counts{Unledgered: 1}, func(t *testing.T, r *audit.Result) {
			if u := r.Unledgered[0]; u.RequestID != req2 || u.Tenant != "beta" || u.SubmissionID != "s2" || u.State != "" {
				t.Errorf("got %+v, want beta/s2's %s from the index", u, req2)
			}
		}},
		{"charges for no known request", func(in *audit.Input) {
			in.Transactions = append(in.Transactions,
				charge("t7", -1600, "2026-03-10T10:00:00Z", "API usage - visengine2.altravia.com 5f2829ce065afc21cc6000ff"),
				charge("t8", -1600, "2026-03-11T10:00:00Z", "API usage - visengine2.altravia.com"))
		}, audit.Counts{UnmatchedCharges: 2}, func(t *testing.T, r *audit.Result) {
			if got := r.UnmatchedCharges; got[0].TransactionID != "t7" || got[0].RequestID != "5f2829ce065afc21cc6000ff" || got[1].TransactionID != "t8" {
				t.Errorf("got %+v, want t7 naming its id, then t8", got)
			}
		}},
		{"charges naming no request: totals agree", func(in *audit.Input) {
			for i := range 2 {
				in.Transactions[i].Description = "API usage - visengine2.altravia.com"
			}
		}, audit.Counts{}, nil},
		{"charges naming no request: totals differ", func(in *audit.Input) {
			for i := range 2 {
				in.Transactions[i].Description = "API usage - visengine2.altravia.com"
			}
			in.Transactions[1].Amount = -2600
		}, audit.Counts{Mismatches: 1}, wantMismatch(audit.Mismatch{Against: audit.AgainstWalletTotal, Ledger: 4100, Other: 4200})},
		{"a charge stamped after the month's end counts for its request", func(in *audit.Input) {
			in.Upstream[1].TimestampCreation = visengine.Timestamp(utc("2026-03-31T21:59:58Z").Unix()) // 23:59:58 in Rome
			in.Records[1] = submitted("beta", "s2", "NASPI", hashNASPI, req2, "2026-03-31T21:59:59Z")
			in.Ledger[1].At = utc("2026-03-31T21:59:58Z")
			in.Transactions[1].CreatedAt = utc("2026-03-31T22:00:03Z") // April in Rome
		}, audit.Counts{}, nil},
		{"last month's request charged this month is not unmatched", func(in *audit.Input) {
			in.Upstream = append(in.Upstream, upstream(req9, "ISEE", hashISEE, 12, "2026-02-28T22:59:59Z"))
			in.Records = append(in.Records, submitted("acme", "s9", "ISEE", hashISEE, req9, "2026-02-28T22:59:59Z"))
			in.Index[req9] = "acme.s9"
			in.Ledger = append(in.Ledger, entry("acme", "s9", "ISEE", hashISEE, req9, 1200, 400, "2026-02-28T22:59:59Z"))
			in.Transactions = append(in.Transactions, charge("t9", -1600, "2026-02-28T23:00:02Z", "visengine "+req9))
		}, audit.Counts{}, nil},
		{"charges naming no request: one stamped after the month's end counts for its request", func(in *audit.Input) {
			for i := range 2 {
				in.Transactions[i].Description = "API usage - visengine2.altravia.com"
			}
			in.Upstream[1].TimestampCreation = visengine.Timestamp(utc("2026-03-31T21:59:58Z").Unix()) // 23:59:58 in Rome
			in.Records[1] = submitted("beta", "s2", "NASPI", hashNASPI, req2, "2026-03-31T21:59:59Z")
			in.Ledger[1].At = utc("2026-03-31T21:59:58Z")
			in.Transactions[1].CreatedAt = utc("2026-03-31T22:00:03Z") // April in Rome
		}, audit.Counts{}, nil},
		{"charges naming no request: last month's request charged this month", func(in *audit.Input) {
			for i := range 2 {
				in.Transactions[i].Description = "API usage - visengine2.altravia.com"
			}
			in.Upstream = append(in.Upstream, upstream(req9, "ISEE", hashISEE, 12, "2026-02-28T22:59:59Z"))
			in.Records = append(in.Records, submitted("acme", "s9", "ISEE", hashISEE, req9, "2026-02-28T22:59:59Z"))
			in.Index[req9] = "acme.s9"
			in.Ledger = append(in.Ledger, entry("acme", "s9", "ISEE", hashISEE, req9, 1200, 400, "2026-02-28T22:59:59Z"))
			in.Transactions = append(in.Transactions, charge("t9", -1600, "2026-02-28T23:00:02Z", "API usage - visengine2.altravia.com"))
		}, audit.Counts{}, nil},
		{"a draft made before the month and submitted in it is charged in it", func(in *audit.Input) {
			// Created outside iseed as a draft (not charged, so no audit
			// saw it), submitted and charged this month: neither unowned
			// (created before the period) nor counted by any period.
			in.Upstream = append(in.Upstream, upstream(req9, "ISEE", hashISEE, 12, "2026-02-20T10:00:00Z"))
			in.Transactions = append(in.Transactions, charge("t9", -1200, "2026-03-10T10:00:00Z", "API usage - visengine2.altravia.com "+req9))
		}, audit.Counts{UnmatchedCharges: 1}, func(t *testing.T, r *audit.Result) {
			if got := r.UnmatchedCharges[0]; got.TransactionID != "t9" || got.RequestID != req9 {
				t.Errorf("got %+v, want t9 naming %s", got, req9)
			}
		}},
		{"last month's request charged again this month", func(in *audit.Input) {
			in.Upstream = append(in.Upstream, upstream(req9, "ISEE", hashISEE, 12, "2026-02-20T10:00:00Z"))
			in.Records = append(in.Records, submitted("acme", "s9", "ISEE", hashISEE, req9, "2026-02-20T10:00:01Z"))
			in.Index[req9] = "acme.s9"
			in.Ledger = append(in.Ledger, entry("acme", "s9", "ISEE", hashISEE, req9, 1200, 0, "2026-02-20T10:00:00Z"))
			// February's audit counted the first charge; the second is
			// March's, and only March's audit can see it.
			in.Transactions = append(in.Transactions, charge("t9", -1200, "2026-03-10T10:00:00Z", "API usage - visengine2.altravia.com "+req9))
		}, audit.Counts{UnmatchedCharges: 1}, func(t *testing.T, r *audit.Result) {
			if got := r.UnmatchedCharges[0]; got.TransactionID != "t9" || got.RequestID != req9 {
				t.Errorf("got %+v, want t9 naming %s", got, req9)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base(t)
			tt.edit(&in)
			r := audit.Check(in)
			if got := r.Counts(); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if r.Clean() != (tt.want == audit.Counts{}) {
				t.Errorf("Clean() = %v", r.Clean())
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func wantMismatch(want audit.Mismatch) func(t *testing.T, r *audit.Result) {
	return func(t *testing.T, r *audit.Result) {
		got := r.Mismatches[0]
		if got.RequestID != want.RequestID || got.Against != want.Against || got.Ledger != want.Ledger || got.Other != want.Other {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
}

func TestChecked(t *testing.T) {
	r := audit.Check(base(t))
	want := audit.Checked{Upstream: 2, Records: 2, Ledger: 2, Transactions: 2, Wallet: true}
	if r.Checked != want {
		t.Errorf("got %+v, want %+v", r.Checked, want)
	}
}
