package main

import (
	"os"
	"slices"
	"testing"

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
					Users     []struct {
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
	helm := map[string]bool{}
	for account, a := range v.Config.Merge.Accounts {
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
