package cas

import (
	"fmt"
	"testing"
)

// BenchmarkReadCompressed reads one JSON-like object, stored raw and
// compressed, of 4 and 64 MiB: with Get (a fresh buffer each time, as a
// hit's result is) and with GetInto a buffer it reuses (the decoder's and
// the hash's speed without the cost of fresh memory, which on a VM is page
// faults).
//
//	go test -run '^$' -bench ReadCompressed -count 3 ./internal/cas
func BenchmarkReadCompressed(b *testing.B) {
	for _, mb := range []int{4, 64} {
		data := jsonLike(1, mb<<20)
		for _, c := range []Compression{NoCompression, DefaultCompression} {
			name := fmt.Sprintf("%dMiB/raw", mb)
			if c != NoCompression {
				name = fmt.Sprintf("%dMiB/zstd", mb)
			}
			s, _ := newStore(b)
			ids, err := s.PutBatchCompressed([][]byte{data}, c)
			if err != nil {
				b.Fatal(err)
			}
			id := ids[0]
			b.Run(name+"/Get", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for i := 0; i < b.N; i++ {
					if _, err := s.Get(id, int64(len(data))); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(name+"/GetInto", func(b *testing.B) {
				into := make([]byte, len(data))
				b.SetBytes(int64(len(data)))
				for i := 0; i < b.N; i++ {
					if err := s.GetInto(id, into); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
