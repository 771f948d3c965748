// Package doccheck holds the tests that keep README.md and docs/ true to the
// code: every configuration variable documented with its default, no
// variable documented that iseed does not read, every `go test -run` line
// naming a test that exists, every relative link resolving, and log
// durations named with their unit.
package doccheck
