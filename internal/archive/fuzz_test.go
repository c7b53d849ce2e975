package archive

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcache/pcache/internal/maintain"
)

// FuzzImport feeds arbitrary bytes to import in-process. Import must never
// panic, and an archive it accepts must leave a cache that check finds
// clean: every entry it added has all its objects, verified.
//
//	go test -run '^$' -fuzz FuzzImport -fuzztime 60s ./internal/archive
func FuzzImport(f *testing.F) {
	c := newTestCache(f)
	c.fill("f", 3)
	var good bytes.Buffer
	if _, err := Export(context.Background(), c.Cache, "f", &good, nil); err != nil {
		f.Fatal(err)
	}
	b := good.Bytes()
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(b[:1024])
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		cache, err := maintain.Init(filepath.Join(t.TempDir(), "cache"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Import(context.Background(), cache, bytes.NewReader(data), "imported", nil); err != nil {
			return
		}
		rep, err := cache.Check(context.Background(), maintain.CheckOptions{Grace: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Errors != 0 {
			t.Fatalf("accepted archive leaves a broken cache: %+v", rep.Findings)
		}
	})
}
