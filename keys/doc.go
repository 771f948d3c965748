// Package keys loads the secrets iseed keys its hashes and signatures with.
//
// The document key (encryption at rest) always comes from a file: a
// key generated and kept beside the documents would protect nothing. The
// HMAC keys of callback secrets and of tax-code hashes may come from files
// too; when they do not, iseed generates one per purpose the first time and
// keeps it in the keys bucket (KV Create: the first replica wins, the others
// read it). That is simpler to run, and the tax codes stay out of the history
// bucket; but anyone who can read the keys bucket can then check a guessed
// tax code or forge a callback (which only triggers a re-read), so give a
// file for deployments where bucket access is shared.
package keys
