package console

// maxShown bounds what a page shows of a payload, masked or revealed, in
// bytes of its indented text: a tenant's payload may be as large as NATS
// takes (1 MiB by default, more if configured), many under one id, and
// indented it may be many times larger (10 KB nested 5,000 levels deep is
// some 50 MB, two spaces per level per line); a page of megabytes helps no
// one. iseed dlq show prints more (maxMaskedShown, in cmd/iseed), and
// with -o json or --reveal the whole one.
const maxShown = 64 << 10
