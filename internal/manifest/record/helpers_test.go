package record

import (
	"fmt"

	"github.com/zeebo/blake3"
)

// kh returns the key hash of test key i.
func kh(i int) [32]byte { return blake3.Sum256([]byte(fmt.Sprintf("key-%d", i))) }

// ent returns a test entry for key i whose result is derived from v.
func ent(i int, v string) Entry {
	return Entry{
		KeyHash: kh(i),
		Key:     []byte(fmt.Sprintf("key-%d", i)),
		Result:  blake3.Sum256([]byte(v)),
		Size:    int64(len(v)),
	}
}

func seedEntries() []Entry {
	full := ent(1, "x")
	full.Time = 42
	full.Codec = "raw"
	full.Type = kh(7)
	full.Outs = []OutFile{{Arg: "P", Object: full.Result, Size: 3, Mode: 0o600, Paths: []PathRecord{{Path: "/p", MtimeNs: 7, Size: 3}}}}
	tomb := Entry{KeyHash: kh(2), Time: 43, Deleted: true}
	return []Entry{full, tomb, ent(3, "y")}
}

// decodeNew decodes b into a new Entry.
func decodeNew(b []byte) (Entry, error) {
	var e Entry
	err := Decode(b, &e)
	return e, err
}
