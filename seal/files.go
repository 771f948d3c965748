package seal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// Files names the key files of a Keyring; an empty name loads nothing. The
// formats are described in the package documentation.
type Files struct {
	// Identity is an age identity file: the private keys that open
	// documents, one "AGE-SECRET-KEY-1…" line each, as age-keygen writes.
	Identity string
	// Recipients is an age recipients file: the public keys ("age1…" lines,
	// as age-keygen -y prints) new documents are sealed to.
	Recipients string
	// TenantRecipients is a directory of age recipients files, one per
	// tenant that has its own recipients, each named after its tenant.
	TenantRecipients string
	// LegacyKey is a key file of the legacy format (the former
	// ISEED_DOCUMENT_KEY_FILE), to open documents stored before age.
	LegacyKey string
}

// Load reads the files f names and returns their Keyring. Its errors name
// the file at fault and never quote key material.
func Load(f Files) (*Keyring, error) {
	var cfg Config
	var err error
	if f.Identity != "" {
		if cfg.Identities, err = readIdentities(f.Identity); err != nil {
			return nil, err
		}
	}
	if f.Recipients != "" {
		if cfg.Recipients, err = readRecipients(f.Recipients); err != nil {
			return nil, err
		}
	}
	if f.TenantRecipients != "" {
		if cfg.Tenants, err = readTenants(f.TenantRecipients); err != nil {
			return nil, err
		}
	}
	if f.LegacyKey != "" {
		b, err := os.ReadFile(f.LegacyKey)
		if err != nil {
			return nil, fmt.Errorf("seal: legacy key: %w", err)
		}
		key, err := ParseLegacyKey(b)
		if err != nil {
			return nil, fmt.Errorf("seal: legacy key %s: %w", f.LegacyKey, err)
		}
		cfg.LegacyKeys = [][]byte{key}
	}
	return New(cfg)
}

func readIdentities(path string) ([]age.Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: identity file: %w", err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("seal: identity file %s: %w", path, err)
	}
	return ids, nil
}

func readRecipients(path string) ([]age.Recipient, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: recipients file: %w", err)
	}
	rs, err := age.ParseRecipients(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("seal: recipients file %s: %w", path, err)
	}
	return rs, nil
}

// readTenants reads a directory of per-tenant recipients files. Names that
// start with "." are skipped (a Kubernetes volume keeps "..data" there);
// any other name must be a tenant ([A-Za-z0-9_-]), so that a file named
// "acme.txt" is an error rather than a tenant that never matches.
func readTenants(dir string) (map[string][]age.Recipient, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("seal: tenant recipients: %w", err)
	}
	tenants := make(map[string][]age.Recipient)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if !validTenant(name) {
			return nil, fmt.Errorf("seal: tenant recipients %s: file %q is not named after a tenant ([A-Za-z0-9_-]+)", dir, name)
		}
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err != nil || info.IsDir() {
			return nil, fmt.Errorf("seal: tenant recipients %s: %q is not a readable file", dir, name)
		}
		if tenants[name], err = readRecipients(path); err != nil {
			return nil, err
		}
	}
	return tenants, nil
}

// validTenant reports whether s is a tenant as iseed's subjects carry it:
// 1..64 characters of [A-Za-z0-9_-].
func validTenant(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
