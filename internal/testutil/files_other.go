//go:build !unix

package testutil

import (
	"errors"
	"os"
)

// Mkfifo fails: this system has no FIFOs.
func Mkfifo(path string) error { return errors.ErrUnsupported }

func owner(os.FileInfo) string { return "" }
