package main

import (
	"context"
	"errors"
)

// Temporary: each of these is replaced by its own file.

func runServe(ctx context.Context, e *env, args []string) error {
	return errors.New("not implemented")
}
