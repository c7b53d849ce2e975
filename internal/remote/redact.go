package remote

import "strings"

// RedactURL returns rawURL for messages, without what may be a secret:
//
//   - whatever stands between "//" (or the start, without one) and the
//     last "@", percent-encoded ("%40") or not, becomes "REDACTED": a user
//     and password, an access key and its secret, also one inside a query
//     parameter (?endpoint=http://KEY:SECRET@host). The last "@" is taken,
//     not the end of the authority, because a secret may hold any of "/?#"
//     (AWS secrets hold "/"); a URL with an "@" in its path loses the part
//     before it too;
//   - the values of query parameters become "..." (their names stay), and
//     a fragment "#...".
//
// It works on text that does not parse as a URL.
func RedactURL(rawURL string) string {
	s := rawURL
	if at := max(strings.LastIndex(s, "@"), strings.LastIndex(s, "%40")); at >= 0 {
		start := 0
		if i := strings.Index(s, "//"); i >= 0 && i < at {
			start = i + 2
		}
		s = s[:start] + "REDACTED" + s[at:]
	}
	s, frag, hasFrag := strings.Cut(s, "#")
	if hasFrag && frag != "" {
		frag = "..."
	}
	base, query, hasQuery := strings.Cut(s, "?")
	if hasQuery {
		params := strings.Split(query, "&")
		for i, p := range params {
			if name, _, ok := strings.Cut(p, "="); ok {
				params[i] = name + "=..."
			} else if p != "" {
				params[i] = "..."
			}
		}
		base += "?" + strings.Join(params, "&")
	}
	if hasFrag {
		base += "#" + frag
	}
	return base
}
