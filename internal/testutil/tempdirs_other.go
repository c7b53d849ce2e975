//go:build !linux

package testutil

// markTopDir does nothing: only Linux's ext file systems have the flag.
func markTopDir(string) {}
