// Package doccheck holds the tests that keep README.md and docs/ true to the
// code: every configuration variable documented with its default (in
// README.md's tables and in docs/' own), no variable documented that iseed
// does not read, every bound cmd/iseed refuses a variable by stated in its
// row, every `go test -run` line and every test named in prose naming a
// test that exists, every relative link resolving (and landing on a heading
// when it names one), every repository path named in code
// (`consumer/adopt.go`) existing, every exported identifier of the module
// named in code or in a package's doc.go (`dlq.Reasons`,
// `record.Record.Scrub`) declared by its package, and every name placed in
// a file (`fail` (`consumer/adopt.go`)) declared there, every iseed command
// shown naming real verbs and flags (docs/cli.md, which cmd/iseed's
// TestCLIDoc keeps), README.md's list of the commands that print records,
// log durations named with their unit, every function that makes a message
// id named in docs/events.md's table of them, every dead-letter header in
// its header table, every member of the events in its member tables (and
// each event a golden file pins that carries reason, errors or esito in
// that member's row), the fingerprint and message id of its example
// submission (and the id its tenant's client publishes it with), every
// dead-letter reason in docs/consumer.md's table of them, every problem code of the
// schema checks in docs/schema.md's, every metric iseed registers
// in docs/operations.md's table (type and labels) and in
// deploy/prometheus/metrics.txt, the values of its outcome, class and
// callback labels there too, every shipped alert in its table of alerts
// with its severity, every JetStream refusal serve exits on in its err_code
// table, every `iseed_…` name in code a metric or a bucket, every package
// named in README.md's Layout table, and docs/deploy.md's figures of the
// shipped Deployment.
package doccheck
