package maintain

import (
	"errors"
	"os"

	"github.com/pcache/pcache/internal/lock"
)

// liveHolder says who holds the writer lock at path: "a running writer
// (process N (name))" when the system names it, "a running writer"
// otherwise, and "" when nobody holds it (or the lock file is gone; looking
// never creates one).
func liveHolder(path string) string {
	if _, err := os.Lstat(path); err != nil {
		return ""
	}
	h, err := lock.TryOrBusy(path, lock.Shared)
	if err == nil {
		h.Release()
		return ""
	}
	var te *lock.TimeoutError
	if errors.As(err, &te) {
		if te.Holder != "" {
			return "a running writer, " + te.Holder
		}
		return "a running writer"
	}
	return ""
}
