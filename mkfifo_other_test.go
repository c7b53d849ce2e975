//go:build !unix

package pcache_test

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs") }
