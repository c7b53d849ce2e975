package remote

import "strings"

// RedactURL returns rawURL with whatever stands between "//" and the last
// "@" of its authority (a user, a password, an access key and its secret)
// replaced by "REDACTED", for messages; it works on text that does not
// parse as a URL too.
func RedactURL(rawURL string) string {
	_, rest, ok := strings.Cut(rawURL, "//")
	if !ok {
		// No authority; but a "user:secret@" may still hide in it.
		if i := strings.LastIndex(rawURL, "@"); i >= 0 {
			return "REDACTED" + rawURL[i:]
		}
		return rawURL
	}
	head := rawURL[:len(rawURL)-len(rest)]
	auth, path := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth, path = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		auth = "REDACTED" + auth[i:]
	}
	return head + auth + path
}
