package main

import (
	"io"
	"time"

	"github.com/rs/zerolog"
)

// newLogger builds the root logger; every component derives its own with a
// "component" field.
func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), err
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", "iseed").Logger(), nil
}
