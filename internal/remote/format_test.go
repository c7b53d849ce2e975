package remote

import (
	"errors"
	"testing"

	"github.com/pcache/pcache/internal/layout"
)

// TestIndexFilesUnderBitFlips flips every bit of a log entry and of a
// checkpoint, one at a time: each flipped file either reads as damaged
// (readers count it and skip it) or still names as many segments. None
// may read as an entry or checkpoint of fewer segments: the remote's
// entries would vanish without a trace (a renamed "segments" key decoded
// as absent, and TestRemoteFaults/flipped_bits failed when the middle
// byte, which it flips, fell in that key).
func TestIndexFilesUnderBitFlips(t *testing.T) {
	const name = "f"
	seg := layout.SegmentName(make([]byte, 32))
	tests := []struct {
		name   string
		data   []byte
		decode func([]byte) (segments int, err error)
		want   int
	}{
		{"log entry", encode(logEntry{Format: logFormat, Version: formatVersion, Name: name, Segments: []string{seg}, Writer: "host.1.abc", Time: 1234567890}),
			func(b []byte) (int, error) { le, err := decodeLogEntry(b, name, 7); return len(le.Segments), err }, 1},
		{"checkpoint", encode(checkpoint{Format: checkpointFormat, Version: formatVersion, Name: name, Seq: 7, Segments: []string{seg, seg}}),
			func(b []byte) (int, error) { cp, err := decodeCheckpoint(b, name, 7); return len(cp.Segments), err }, 2},
		{"empty checkpoint", encode(checkpoint{Format: checkpointFormat, Version: formatVersion, Name: name, Seq: 7, Segments: []string{}}),
			func(b []byte) (int, error) { cp, err := decodeCheckpoint(b, name, 7); return len(cp.Segments), err }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := tt.decode(tt.data); err != nil || n != tt.want {
				t.Fatalf("unflipped: %d segments, %v", n, err)
			}
			for i := range tt.data {
				for bit := range 8 {
					b := append([]byte(nil), tt.data...)
					b[i] ^= 1 << bit
					n, err := tt.decode(b)
					if err != nil && !errors.Is(err, errDamaged) {
						t.Fatalf("byte %d bit %d: %v, not errDamaged", i, bit, err)
					}
					if err == nil && n != tt.want {
						t.Fatalf("byte %d bit %d: reads as %d segments, want %d or damaged", i, bit, n, tt.want)
					}
				}
			}
		})
	}
}
