package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/seal"
	"github.com/iseed-dev/iseed/tracking"
)

// runDocument fetches a stored document: iseed document get.
func runDocument(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "get" {
		fmt.Fprintln(e.stderr, "Usage: iseed document get [--tenant T] [--key-file F] ID -o FILE")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return &exitError{code: 2}
	}
	fs := newFlagSet(e, "document get", "[--tenant T] [--key-file F] ID -o FILE\n\n"+
		"Fetches a submission's stored document, decrypts it when it was encrypted at rest, checks its size and\n"+
		"SHA-256 against the record, and writes it to FILE (only when every check passes).")
	tenant := fs.String("tenant", "default", "tenant")
	out := fs.String("o", "", "output file (required)")
	keyFile := fs.String("key-file", "", "age identity file that opens the document (default ISEED_DOCUMENT_IDENTITY_FILE; ISEED_DOCUMENT_KEY_FILE opens documents sealed before age)")
	if err := fs.Parse(interleaved(args[1:], map[string]bool{"tenant": true, "o": true, "key-file": true})); err != nil {
		return err
	}
	if fs.NArg() != 1 || *out == "" {
		fs.Usage()
		return &exitError{code: 2}
	}
	c, err := openCLI(ctx, true)
	if err != nil {
		return err
	}
	defer c.close()
	if *keyFile != "" {
		c.cfg.DocIdentityFile = *keyFile
	}
	keyring, err := loadKeyring(c.cfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	ref, err := fetchTo(ctx, c, *tenant, fs.Arg(0), keyring, *out)
	if errors.Is(err, record.ErrNotFound) {
		return &exitError{code: 1, err: fmt.Errorf("no submission %q for tenant %q", fs.Arg(0), *tenant)}
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s: %d bytes, sha256 %s, %s (verified)\n", *out, ref.Size, ref.SHA256, ref.ContentType)
	return err
}

// fetchTo writes the document to a temporary file beside path and renames
// it into place only when it verified.
func fetchTo(ctx context.Context, c *cliConn, tenant, id string, kr *seal.Keyring, path string) (*record.DocumentRef, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".iseed-document-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	ref, err := tracking.FetchDocument(ctx, c.js, c.res, tenant, id, kr, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return ref, os.Rename(f.Name(), path)
}

// interleaved moves flags after positional arguments to the front, so that
// "ID -o FILE" parses as the usage shows. valued names the flags that take
// a value.
func interleaved(args []string, valued map[string]bool) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			name := a[1:]
			if len(name) > 0 && name[0] == '-' {
				name = name[1:]
			}
			if valued[name] && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}
