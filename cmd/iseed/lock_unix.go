//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFile is the data directory's lock, holding the PID of the iseed
// serve that has it.
const lockFile = "iseed.lock"

// lockDataDir takes the data directory for this process (flock on
// dir/iseed.lock, which then holds this PID), or fails at once naming the
// PID that holds it. Two JetStream servers on one store would corrupt it.
// The kernel drops the lock when the process dies, however it dies.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, configError(fmt.Errorf("ISEED_DATA_DIR: %w", err))
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, configError(fmt.Errorf("ISEED_DATA_DIR: %w", err))
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 32))
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, configError(fmt.Errorf("ISEED_DATA_DIR=%s is in use by another iseed serve (pid %s, in %s): stop that one, or give this one another ISEED_DATA_DIR",
				dir, strings.TrimSpace(string(holder)), path))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = f.Truncate(0)
		f.Close() // closing the last descriptor releases the lock
	}, nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}
