package fsutil

import (
	"os"
	"syscall"
)

// SyncData flushes f's data, and the metadata needed to read it back (its
// size), to stable storage: fdatasync(2), which skips the timestamps
// fsync(2) also writes. Appends made durable with it survive a crash as
// fsync's do.
func SyncData(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return f.Sync()
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
