//go:build !unix

package main

// lockDataDir does not lock where flock is missing: run one iseed serve
// per data directory.
func lockDataDir(string) (func(), error) { return func() {}, nil }
