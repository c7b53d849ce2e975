//go:build !linux

package outfile

// swapDir puts the directory tmp in dir's place (see swapByRenames).
func swapDir(tmp, dir string) error { return swapByRenames(tmp, dir) }
