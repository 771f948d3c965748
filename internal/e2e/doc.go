// Package e2e holds the tests that need both of iseed's loops at once: the
// submission pipeline (package consumer) submitting, and the tracker
// (package tracking) following the requests to their documents. Neither
// loop imports the other, so these tests live here rather than in either.
package e2e
