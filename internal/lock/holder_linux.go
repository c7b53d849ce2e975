package lock

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// holderOf names the processes that hold a lock on f (the flock of the
// whole file when off < 0, else the byte-range lock of byte off), for the
// error of a wait that ran out: "process 1234 (name)". It asks F_OFD_GETLK
// for byte ranges (which names a POSIX-lock holder's pid), then
// /proc/locks (which names flock and POSIX holders; open-file-description
// locks show no pid). Empty when the system does not say.
func holderOf(f *os.File, off int64) string {
	var pids []int
	if off >= 0 {
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: off, Len: 1}
		if unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk) == nil && lk.Type != unix.F_UNLCK && lk.Pid > 0 {
			pids = append(pids, int(lk.Pid))
		}
	}
	var st syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &st) == nil {
		pids = append(pids, procLocks(uint64(st.Dev), st.Ino, off)...)
	}
	return describePIDs(pids)
}

// procLocks returns the pids /proc/locks gives for locks on inode ino of
// device dev covering off (any lock when off < 0).
func procLocks(dev, ino uint64, off int64) []int {
	pl, err := os.Open("/proc/locks")
	if err != nil {
		return nil
	}
	defer pl.Close()
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), ino)
	var pids []int
	sc := bufio.NewScanner(io.LimitReader(pl, 16<<20))
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 3379 fd:01:1705957 0 EOF"; waiters
		// have "->" after the number.
		fs := strings.Fields(sc.Text())
		if len(fs) != 8 || fs[5] != want {
			continue
		}
		if off >= 0 {
			start, err := strconv.ParseInt(fs[6], 10, 64)
			if err != nil || off < start {
				continue
			}
			if fs[7] != "EOF" {
				if end, err := strconv.ParseInt(fs[7], 10, 64); err != nil || off > end {
					continue
				}
			}
		}
		if pid, err := strconv.Atoi(fs[4]); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// describePIDs names distinct pids with their command names.
func describePIDs(pids []int) string {
	seen := map[int]bool{}
	var parts []string
	for _, p := range pids {
		if seen[p] {
			continue
		}
		seen[p] = true
		s := "process " + strconv.Itoa(p)
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/comm"); err == nil && len(b) > 0 && len(b) < 64 {
			s += " (" + strings.TrimSpace(string(b)) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
