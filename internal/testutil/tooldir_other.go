//go:build !unix

package testutil

// sharedToolDir: without flock, Tool builds into its own temporary
// directory every time.
func sharedToolDir(root string) (dir string, unlock func(), ok bool) {
	return "", nil, false
}
