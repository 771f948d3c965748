//go:build chaos && linux

package chaos

// sysSetns is setns(2), which package syscall does not name on arm64.
const sysSetns = 268
