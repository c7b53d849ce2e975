package engine

import (
	"fmt"
	"reflect"

	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/outfile"
	"github.com/zeebo/blake3"
)

// CallKey is the key of one call of one function.
type CallKey struct {
	Hash   record.KeyHash // the entry's key: the arguments' key and the result type (entryHash)
	Legacy record.KeyHash // the arguments' key alone: how entries were keyed before result types were
	Bytes  []byte         // the arguments' canonical key (nil when over keying.MaxKeyBytes)
	Outs   []keying.OutArg

	NoWrite bool // the call writes nothing, not even a use: ModeReadOnly, or a read-only Store (policy.write)
}

// entryDomain separates entry keys from every other BLAKE3 use.
const entryDomain = "pcache entry key v2\x00"

// resultKey is the part of every entry key of a function that comes from
// its result: BLAKE3-256 of
//
//	"pcache entry key v2" 0x00 ‖ codec name ‖ 0x00 ‖ result-type fingerprint (32 bytes)
//
// computed once per Wrap. The fingerprint is keying.ResultFingerprint of the
// result type.
func resultKey(codec string, fp keying.Fingerprint) [32]byte {
	h := blake3.New()
	h.WriteString(entryDomain)
	h.WriteString(codec)
	h.Write([]byte{0})
	h.Write(fp[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// entryHash is the key of an entry: the argument key hash (keying's
// Plan.Key) XOR the function's resultKey. Two functions under one name whose
// result types (or codecs) differ keep separate entries, and an entry is
// never decoded into another type. (The XOR of a hash output with a fixed
// value is as collision-resistant as the hash, and costs nothing per call.)
func entryHash(args, result [32]byte) record.KeyHash {
	for i := range args {
		args[i] ^= result[i]
	}
	return args
}

// Key keys args. With withOuts, out-file paths are made absolute (an empty
// one is an error); without, they are dropped.
func (c *Fn) Key(args any, withOuts bool) (CallKey, error) {
	return c.KeyValue(reflect.ValueOf(args), withOuts)
}

// KeyValue is Key of the argument rv holds (keying.Plan.KeyValue): a
// batch keys its elements in place, without boxing each.
func (c *Fn) KeyValue(args reflect.Value, withOuts bool) (CallKey, error) {
	k, err := c.plan.KeyValue(c.version, args)
	if err != nil {
		return CallKey{}, Errorf("%s: %w", c.name, err)
	}
	ck := CallKey{Hash: entryHash(k.Hash, c.rkey), Legacy: k.Hash, Bytes: k.Bytes}
	if !withOuts {
		return ck, nil
	}
	for i, o := range k.Outs {
		p, err := outfile.Abs(o.Path)
		if err != nil {
			return CallKey{}, Errorf("%s: out file argument %q: %w", c.name, o.Arg, err)
		}
		k.Outs[i].Path = p
	}
	ck.Outs = k.Outs
	return ck, nil
}

// CopyOuts makes the out paths of dst hold what the function wrote to
// those of src (the same key's first element of a batch), for a result
// that could not be served from the cache.
func CopyOuts(src, dst *CallKey) error {
	for i, o := range dst.Outs {
		from := src.Outs[i].Path
		if from == o.Path {
			continue
		}
		if err := outfile.Copy(from, o.Path); err != nil {
			return fmt.Errorf("out file %q: %w", o.Arg, err)
		}
	}
	return nil
}
