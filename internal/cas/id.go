package cas

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// ID is the BLAKE3-256 digest of an object's bytes. Its lowercase hex form
// names the object on disk: objects/<first 2 hex>/<remaining 62 hex>.
type ID [32]byte

// Sum returns the ID of b.
func Sum(b []byte) ID { return ID(blake3.Sum256(b)) }

// String returns the lowercase hex form of id (64 characters).
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID (no object).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the 64-character lowercase hex form of an ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("cas: parse id %q: want 64 hex characters, got %d", s, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return id, fmt.Errorf("cas: parse id %q: not lowercase hex", s)
		}
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("cas: parse id %q: %w", s, err)
	}
	return id, nil
}
