//go:build !race

package overview

const raceEnabled = false
