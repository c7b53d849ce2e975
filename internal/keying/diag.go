package keying

import (
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"
)

var diagMode = func() cbor.DiagMode {
	dm, err := cbor.DiagOptions{
		MaxNestedLevels:  65535,
		MaxArrayElements: math.MaxInt32,
		MaxMapPairs:      math.MaxInt32,
	}.DiagMode()
	if err != nil {
		panic(err) // constant options: cannot happen
	}
	return dm
}()

// Diagnose renders canonical key bytes in CBOR diagnostic notation (RFC 8949
// §8), for people: pcache-fsck ls prints keys this way. Byte strings are
// shown as h'hex', typed arrays as 86(h'...'), times as 1001({1: s, -9: ns}).
func Diagnose(b []byte) (string, error) {
	s, err := diagMode.Diagnose(b)
	if err != nil {
		return "", fmt.Errorf("keying: diagnose: %w", err)
	}
	return s, nil
}
