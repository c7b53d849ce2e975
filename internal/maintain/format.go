package maintain

import "github.com/pcache/pcache/internal/textfmt"

// The formatting of the library's own messages (findings, report lines,
// errors), shared with pcache-fsck. Printing reports is the caller's.
var (
	humanBytes = textfmt.Bytes
	plural     = textfmt.Plural
	formatTime = textfmt.Time
)
