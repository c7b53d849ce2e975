package record

import "unicode/utf8"

// headerKeys are the keys of a header in the order EncodeHeader writes
// them (canonical CBOR: shorter keys first); count is a segment's alone.
var headerKeys = [...]string{"name", "count", "digest", "format", "version"}

// fastHeader decodes the header item at the start of b into h without
// reflection when it is exactly what EncodeHeader writes: a map of the
// keys above in that order, count present or not, text values that are
// non-empty valid UTF-8 and unsigned integers, every head in shortest
// form. It returns the item's length, or 0, leaving h alone, for anything
// else, which the strict decoder then judges: whatever it accepts, the
// strict decoder accepts too with an equal Header (TestFastHeader). A
// fresh process opens every segment's header before its first lookup,
// and decoding through reflection first builds the decoder's type cache.
func fastHeader(b []byte, h *Header) int {
	major, n, p, minimal, err := ReadHead(b)
	if err != nil || major != MajorMap || !minimal || (n != 4 && n != 5) {
		return 0
	}
	var out Header
	for _, k := range headerKeys {
		if k == "count" && n == 4 {
			continue
		}
		key, q, ok := fastString(b, p, MajorText)
		if !ok || string(key) != k {
			return 0
		}
		p = q
		if k == "count" || k == "version" {
			major, v, hn, minimal, err := ReadHead(b[p:])
			if err != nil || major != MajorUint || !minimal {
				return 0
			}
			p += hn
			if k == "count" {
				out.Count = &v
			} else {
				out.Version = v
			}
			continue
		}
		s, q, ok := fastString(b, p, MajorText)
		if !ok || !utf8.Valid(s) {
			return 0
		}
		p = q
		switch k {
		case "name":
			out.Name = string(s)
		case "digest":
			out.Digest = string(s)
		default:
			out.Format = string(s)
		}
	}
	*h = out
	return p
}
