package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/pcache/pcache"
	"github.com/zeebo/blake3"
	bolt "go.etcd.io/bbolt"
)

// pcacheMemo is pcache as a user writes it: a Store and a wrapped f.
type pcacheMemo struct {
	s  *pcache.Store
	fn *pcache.Func[Args, []int]
}

func openPcache(dir string, durable bool) (memo, error) {
	var opts []pcache.StoreOption
	if durable {
		opts = append(opts, pcache.Durable())
	}
	s, err := pcache.Open(dir, opts...)
	if err != nil {
		return nil, err
	}
	fn, err := pcache.Wrap(s, "yardstick/f", func(_ context.Context, a Args) ([]int, error) { return f(a), nil })
	if err != nil {
		s.Close()
		return nil, err
	}
	return &pcacheMemo{s, fn}, nil
}

func (m *pcacheMemo) call(a Args) ([]int, error) { return m.fn.Call(context.Background(), a) }
func (m *pcacheMemo) close() error               { return m.s.Close() }

// boltMemo is the hand-rolled memoizer: one bbolt file, the key the BLAKE3
// hash of the argument's CBOR (pcache's key is a hash too), the value the
// result's CBOR. A durable side commits with bbolt's default fdatasync; the
// other sets NoSync.
type boltMemo struct{ db *bolt.DB }

var bucket = []byte("yardstick/f")

func openBolt(dir string, durable bool) (memo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "memo.db"), 0o644, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	db.NoSync = !durable
	return &boltMemo{db}, nil
}

func (m *boltMemo) call(a Args) ([]int, error) {
	ab, err := cbor.Marshal(a)
	if err != nil {
		return nil, err
	}
	k := blake3.Sum256(ab)
	var v []int
	err = m.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			if raw := b.Get(k[:]); raw != nil {
				return cbor.Unmarshal(raw, &v)
			}
		}
		return nil
	})
	if err != nil || v != nil {
		return v, err
	}
	v = f(a)
	enc, err := cbor.Marshal(v)
	if err != nil {
		return nil, err
	}
	return v, m.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put(k[:], enc)
	})
}

func (m *boltMemo) close() error { return m.db.Close() }
