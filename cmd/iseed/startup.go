package main

import (
	"errors"
	"fmt"
	"net"
)

// claimStartup takes, before anything starts, what this process needs for
// itself: on the embedded server, the data directory (locked until
// release); and every listener, each tried once so that an address in use
// fails now, naming the variable to change, instead of after a start-up
// timeout.
func claimStartup(cfg *Config) (release func(), err error) {
	release = func() {}
	if cfg.NATSURL == "" {
		if release, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, l := range cfg.listeners() {
		errs = append(errs, tryListen(l.variable, l.addr))
	}
	if err := errors.Join(errs...); err != nil {
		release()
		return nil, configError(err)
	}
	return release, nil
}

// tryListen listens on addr and closes again at once.
func tryListen(variable, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s=%s cannot be used (%v): another program, perhaps another iseed serve, listens there; set %s to a free address", variable, addr, err, variable)
	}
	return ln.Close()
}
