// Package keys loads the HMAC keys iseed keys its hashes and signatures
// with: tax-code hashes (ISEED_TAXCODE_KEY_FILE), callback secrets
// (ISEED_CALLBACK_KEY_FILE) and signed replays (ISEED_REPLAY_KEY_FILE).
//
// Each key comes from its file when one is given (Parse: 32 bytes as 64
// hex digits, base64, or raw). When none is, iseed generates one per
// purpose the first time and keeps it in the keys bucket (LoadOrCreate:
// KV Create, so the first replica wins and the others read it). That is
// simpler to run, and the tax codes stay out of the history bucket; but
// anyone who can read the keys bucket can then check a guessed tax code,
// forge a callback (which only triggers a re-read) or sign a replay, so
// give files for deployments where bucket access is shared.
//
// Documents are not sealed with these keys: package seal encrypts them
// with age, to recipients read from files (ISEED_DOCUMENT_RECIPIENTS_FILE);
// it uses Parse only for the former AES key (ISEED_DOCUMENT_KEY_FILE).
package keys
