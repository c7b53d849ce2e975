package pcache

import (
	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/manifest/record"
	"github.com/pcache/pcache/internal/outfile"
)

// callKey is the key of one call of one function.
type callKey struct {
	hash   record.KeyHash // the entry's key: the arguments' key and the result type (entryHash)
	legacy record.KeyHash // the arguments' key alone: how entries were keyed before result types were
	bytes  []byte         // the arguments' canonical key (nil when over keying.MaxKeyBytes)
	outs   []keying.OutArg

	noWrite bool // the call writes nothing, not even a use: ModeReadOnly, or a read-only Store (policy.write)
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

// key keys args. With withOuts, out-file paths are made absolute (an empty
// one is an error); without, they are dropped.
func (c *core) key(args any, withOuts bool) (callKey, error) {
	k, err := c.plan.Key(c.version, args)
	if err != nil {
		return callKey{}, errorf("%s: %w", c.name, err)
	}
	ck := callKey{hash: entryHash(k.Hash, c.rkey), legacy: k.Hash, bytes: k.Bytes}
	if !withOuts {
		return ck, nil
	}
	for i, o := range k.Outs {
		p, err := outfile.Abs(o.Path)
		if err != nil {
			return callKey{}, errorf("%s: out file argument %q: %w", c.name, o.Arg, err)
		}
		k.Outs[i].Path = p
	}
	ck.outs = k.Outs
	return ck, nil
}

// keyLockID names the cross-process lock of one key of one function.
func (c *core) keyLockID(h record.KeyHash) [32]byte {
	hs := blake3.New()
	hs.WriteString(c.name)
	hs.Write([]byte{0})
	hs.Write(h[:])
	var id [32]byte
	hs.Sum(id[:0])
	return id
}
