package seal_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/iseed-dev/iseed/seal"
)

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoad writes key files as age-keygen does, with a rotated identity, a
// default recipient and a tenant directory as Kubernetes mounts it, and
// checks who can open what.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	old, current, tenantKey := newIdentity(t), newIdentity(t), newIdentity(t)
	identity := writeFile(t, filepath.Join(dir, "identity.txt"),
		"# created: 2025-01-01\n# public key: "+current.Recipient().String()+"\n"+current.String()+"\n\n# retired\n"+old.String()+"\n")
	recipients := writeFile(t, filepath.Join(dir, "recipients.txt"), "# operator\n"+current.Recipient().String()+"\n")
	tenants := filepath.Join(dir, "tenants")
	writeFile(t, filepath.Join(tenants, "..2025_01_01", "acme"), tenantKey.Recipient().String()+"\n")
	if err := os.Symlink(filepath.Join("..2025_01_01", "acme"), filepath.Join(tenants, "acme")); err != nil {
		t.Fatal(err)
	}
	k, err := seal.Load(seal.Files{Identity: identity, Recipients: recipients, TenantRecipients: tenants})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tenant     string
		recipient  *age.X25519Identity
		selfOpened bool
	}{
		{"acme", tenantKey, false}, // sealed to the tenant's key only
		{"other", current, true},
	}
	for _, tt := range tests {
		obj, meta := sealBytes(t, k, tt.tenant, []byte("doc"))
		if got, want := meta[seal.MetaRecipients], seal.RecipientID(tt.recipient.Recipient().String()); got != want {
			t.Errorf("%s: recipients %q, want %q", tt.tenant, got, want)
		}
		_, err := openBytes(k, obj, meta)
		if got := err == nil; got != tt.selfOpened {
			t.Errorf("%s: opened with the identity file: %v (%v), want %v", tt.tenant, got, err, tt.selfOpened)
		}
	}
	// The retired identity still opens what was sealed to it.
	before := newKeyring(t, seal.Config{Recipients: []age.Recipient{old.Recipient()}})
	obj, meta := sealBytes(t, before, "other", []byte("old doc"))
	if got, err := openBytes(k, obj, meta); err != nil || string(got) != "old doc" {
		t.Errorf("object sealed to the retired key: got %q, %v, want %q", got, err, "old doc")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	id := newIdentity(t)
	good := writeFile(t, filepath.Join(dir, "recipients.txt"), id.Recipient().String()+"\n")
	secret := writeFile(t, filepath.Join(dir, "secret-as-recipients.txt"), id.String()+"\n")
	empty := writeFile(t, filepath.Join(dir, "empty.txt"), "# nothing\n")
	badName := filepath.Join(dir, "badname")
	writeFile(t, filepath.Join(badName, "acme.txt"), id.Recipient().String())
	emptyTenant := filepath.Join(dir, "emptytenant")
	writeFile(t, filepath.Join(emptyTenant, "acme"), "")
	shortKey := writeFile(t, filepath.Join(dir, "short.key"), "abcd\n")
	tests := []struct {
		name  string
		files seal.Files
		want  string // in the error
	}{
		{"missing identity file", seal.Files{Identity: filepath.Join(dir, "nope")}, "identity file"},
		{"recipients as identities", seal.Files{Identity: good}, "identity file " + good},
		{"identity as recipients", seal.Files{Recipients: secret}, "recipients file " + secret},
		{"empty recipients", seal.Files{Recipients: empty}, "no recipients"},
		{"missing tenant directory", seal.Files{TenantRecipients: filepath.Join(dir, "nope")}, "tenant recipients"},
		{"file not named after a tenant", seal.Files{TenantRecipients: badName}, `"acme.txt"`},
		{"empty tenant file", seal.Files{TenantRecipients: emptyTenant}, "no recipients"},
		{"short legacy key", seal.Files{LegacyKey: shortKey}, "32 bytes"},
	}
	for _, tt := range tests {
		_, err := seal.Load(tt.files)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
			t.Errorf("%s: error %q quotes key material", tt.name, err)
		}
	}
	if _, err := seal.Load(seal.Files{}); err != nil {
		t.Errorf("no files: got %v, want an empty Keyring", err)
	}
}
