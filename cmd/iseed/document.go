package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/seal"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/spf13/cobra"
)

func newDocumentCmd(e *env) *cobra.Command {
	get := &cobra.Command{
		Use:   "get ID -o FILE",
		Short: "Fetch, decrypt and verify a stored document",
		Long: "Fetches a submission's stored document, decrypts it when it was encrypted at rest, checks its size and\n" +
			"SHA-256 against the record, and writes it to FILE only when every check passes; otherwise, and on a\n" +
			"hang-up, nothing of it is left beside FILE (- writes it to standard output; a failed check then still\n" +
			"fails the command, but bytes may have been written). An error names the document's object without its\n" +
			"file name (acme/emp-7/9f86d081884c7d65/…), which is the upstream's and may name the person.",
		Annotations: map[string]string{exitCodesKey: "0 written and verified; 1 no such submission or document, a failed check, or an error; 2 usage or configuration error"},
	}
	tenant := tenantFlag(get.Flags(), "default", "tenant")
	out := get.Flags().StringP("output", "o", "", "where to write the document: a `FILE`, or - for standard output (required)")
	keyFile := get.Flags().String("key-file", "", "age identity `FILE` that opens the document (default ISEED_DOCUMENT_IDENTITY_FILE; ISEED_DOCUMENT_KEY_FILE opens documents sealed before age)")
	get.Args = func(cmd *cobra.Command, args []string) error {
		if *out == "" {
			return usagef("missing -o FILE (or -o - for standard output)")
		}
		return exactArgs("ID")(cmd, args)
	}
	get.RunE = func(cmd *cobra.Command, args []string) error {
		err := getDocument(cmd.Context(), e, *tenant, args[0], *out, *keyFile)
		if errors.Is(err, record.ErrNotFound) {
			return noSubmission(cmd, args[0], *tenant)
		}
		return err
	}
	return group("document", "Fetch a stored document", get)
}

func getDocument(ctx context.Context, e *env, tenant, id, out, keyFile string) error {
	c, err := openCLI(ctx, e.stderr, true)
	if err != nil {
		return err
	}
	defer c.close()
	if keyFile != "" {
		// The flag, not the ISEED_DOCUMENT_* variables, names this file:
		// a refusal of it says so.
		if _, err := seal.Load(seal.Files{Identity: keyFile}); err != nil {
			return usagef("--key-file %s: %w", keyFile, err)
		}
		c.cfg.DocIdentityFile = keyFile
	}
	keyring, err := loadKeyring(c.cfg)
	if err != nil {
		return configError(err)
	}
	var ref *record.DocumentRef
	err = writeOutput(e, out, func(w io.Writer) error {
		ref, err = tracking.FetchDocument(ctx, c.js, c.res, tenant, id, keyring, w)
		return err
	})
	if err != nil {
		return err
	}
	name := out
	if out == "-" {
		name = "standard output"
	}
	_, err = fmt.Fprintf(e.stderr, "%s: %d bytes, sha256 %s, %s (verified)\n", name, ref.Size, ref.SHA256, ref.ContentType)
	return err
}
