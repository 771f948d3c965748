package main

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
)

// TestHelmValuesMirrorNATSConf holds deploy/k8s/nats-values.yaml to the
// accounts, users, password variables and permissions of
// deploy/nats/nats-server.conf, which TestShippedNATSPermissions runs.
func TestHelmValuesMirrorNATSConf(t *testing.T) {
	opts, pw := loadShippedConf(t)
	b, err := os.ReadFile("../../deploy/k8s/nats-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type perms struct{ Allow, Deny []string }
	var v struct {
		Config struct {
			Merge struct {
				SystemAccount string `yaml:"system_account"`
				Accounts      map[string]struct {
					JetStream string `yaml:"jetstream"`
					Limits    struct {
						MaxConnections   int `yaml:"max_connections"`
						MaxSubscriptions int `yaml:"max_subscriptions"`
					} `yaml:"limits"`
					Exports []map[string]any `yaml:"exports"`
					Imports []map[string]any `yaml:"imports"`
					Users   []struct {
						User        string
						Password    string
						Permissions struct{ Publish, Subscribe perms }
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	confAccounts := shippedAccounts(t)
	helm := map[string]bool{}
	for account, a := range v.Config.Merge.Accounts {
		if got, want := a.Limits.MaxConnections, shippedLimit(t, account, "max_connections"); got != want {
			t.Errorf("account %s, max_connections: nats-values.yaml %d, nats-server.conf %d", account, got, want)
		}
		if got, want := a.Limits.MaxSubscriptions, shippedLimit(t, account, "max_subscriptions"); got != want {
			t.Errorf("account %s, max_subscriptions: nats-values.yaml %d, nats-server.conf %d", account, got, want)
		}
		for _, c := range []struct {
			what string
			helm []map[string]any
		}{{"exports", a.Exports}, {"imports", a.Imports}} {
			if extra, missing := setDiff(canonical(t, c.helm), canonical(t, confAccounts[account][c.what])); len(extra)+len(missing) > 0 {
				t.Errorf("account %s, %s: nats-values.yaml has %q more and %q less than nats-server.conf", account, c.what, extra, missing)
			}
		}
		for _, u := range a.Users {
			helm[u.User] = true
			conf := confUser(opts, u.User)
			if conf == nil {
				t.Errorf("nats-values.yaml: user %s is not in nats-server.conf", u.User)
				continue
			}
			if conf.Account == nil || conf.Account.Name != account {
				t.Errorf("user %s: account %s in nats-values.yaml, not in nats-server.conf", u.User, account)
			}
			if want := "<< $" + shippedSecrets[u.User] + " >>"; u.Password != want || conf.Password != pw[u.User] {
				t.Errorf("user %s: password %q in nats-values.yaml; want %q, the variable nats-server.conf reads", u.User, u.Password, want)
			}
			var pub, sub server.SubjectPermission
			if p := conf.Permissions; p != nil && p.Publish != nil {
				pub = *p.Publish
			}
			if p := conf.Permissions; p != nil && p.Subscribe != nil {
				sub = *p.Subscribe
			}
			for _, c := range []struct {
				what       string
				helm, conf []string
			}{
				{"publish allow", u.Permissions.Publish.Allow, pub.Allow},
				{"publish deny", u.Permissions.Publish.Deny, pub.Deny},
				{"subscribe allow", u.Permissions.Subscribe.Allow, sub.Allow},
				{"subscribe deny", u.Permissions.Subscribe.Deny, sub.Deny},
			} {
				if extra, missing := setDiff(c.helm, c.conf); len(extra)+len(missing) > 0 {
					t.Errorf("user %s, %s: nats-values.yaml has %q more and %q less than nats-server.conf", u.User, c.what, extra, missing)
				}
			}
		}
	}
	for _, u := range opts.Users {
		if !helm[u.Username] {
			t.Errorf("nats-server.conf: user %s is not in nats-values.yaml", u.Username)
		}
	}
	if v.Config.Merge.SystemAccount != opts.SystemAccount {
		t.Errorf("system account: nats-values.yaml %q, nats-server.conf %q", v.Config.Merge.SystemAccount, opts.SystemAccount)
	}
}

// shippedAccounts parses nats-server.conf's accounts block (with the
// environment loadShippedConf set): exports and imports by account.
func shippedAccounts(t *testing.T) map[string]map[string][]map[string]any {
	t.Helper()
	m, err := conf.ParseFile(shippedConf)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]map[string]any{}
	accounts, _ := m["accounts"].(map[string]any)
	for name, a := range accounts {
		out[name] = map[string][]map[string]any{}
		am, _ := a.(map[string]any)
		for _, what := range []string{"exports", "imports"} {
			list, _ := am[what].([]any)
			for _, e := range list {
				em, _ := e.(map[string]any)
				out[name][what] = append(out[name][what], em)
			}
		}
	}
	return out
}

// canonical turns each entry into its JSON text, keys sorted.
func canonical(t *testing.T, entries []map[string]any) []string {
	t.Helper()
	out := make([]string, len(entries))
	for i, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

func confUser(opts *server.Options, name string) *server.User {
	for _, u := range opts.Users {
		if u.Username == name {
			return u
		}
	}
	return nil
}

// setDiff returns what a has and b has not, and what b has and a has not.
func setDiff(a, b []string) (extra, missing []string) {
	for _, s := range a {
		if !slices.Contains(b, s) {
			extra = append(extra, s)
		}
	}
	for _, s := range b {
		if !slices.Contains(a, s) {
			missing = append(missing, s)
		}
	}
	return extra, missing
}
