//go:build unix && !netbsd

package fsutil

func isEFTYPE(error) bool { return false }
