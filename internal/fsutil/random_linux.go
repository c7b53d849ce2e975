package fsutil

import "golang.org/x/sys/unix"

// randomBytes fills b from the kernel with one getrandom(2) call: fresh in
// every process (and in every copy of a cloned virtual machine, which the
// kernel reseeds), without the state crypto/rand's first read sets up for
// the vDSO, a quarter of a fresh process's first write here. crypto/rand
// (systemRandom) covers a kernel without the call.
func randomBytes(b []byte) {
	if n, err := unix.Getrandom(b, 0); err == nil && n == len(b) {
		return
	}
	systemRandom(b)
}
