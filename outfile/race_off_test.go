//go:build !race

package outfile

const raceEnabled = false
