//go:build !unix

package lock

import "os"

// holderOf cannot name lock holders on this platform.
func holderOf(*os.File, int64) string { return "" }
