package main

import (
	"strings"

	"github.com/pcache/pcache/internal/textfmt"
)

// Formatting shared by the commands (sizes, counts and times as the
// library's messages print them too).
var (
	humanBytes = textfmt.Bytes
	plural     = textfmt.Plural
	formatTime = textfmt.Time
)

// shellQuote quotes s for a POSIX shell when it needs quoting, so printed
// commands can be pasted.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r == '+' || r == '=' || r == ',' ||
			('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
