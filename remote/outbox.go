package remote

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/layout"
	"github.com/pcache/pcache/internal/lock"
	"github.com/pcache/pcache/manifest/record"
)

// An outbox file holds records waiting to be published, so that a crash
// (or a Close whose flush ran out of time) loses none: every record is
// framed like a journal record (package record) and its payload is the
// CBOR map {"n": function name, "r": the record's canonical encoding, "u":
// true if its objects are known to be on the remote}.
// Its name ends in layout.OutboxExt. A file is written by one process, which holds its lock
// (locks/outbox/<file>.lock) while it writes or publishes it; a file whose
// lock is free belongs to nobody and is published by the next Open.
// item is one record to publish.
type item struct {
	name     string
	e        record.Entry
	uploaded bool // its objects are on the remote (a use of an entry fetched from it)
}

type outboxPayload struct {
	Name     string `cbor:"n"`
	Record   []byte `cbor:"r"`
	Uploaded bool   `cbor:"u,omitempty"`
}

// outboxFile is an open outbox file and its lock.
type outboxFile struct {
	path string
	lock string   // its lock file
	f    *os.File // nil for a replayed file (read whole, never appended)
	held *lock.Held
	size int64 // bytes appended
}

// createOutbox starts a new outbox file in dir.
func (t *Tier) createOutbox(dir string) (*outboxFile, error) {
	name := fsutil.Unique() + layout.OutboxExt
	lk := t.d.OutboxLock(name)
	held, ok, err := lock.Try(lk, lock.Exclusive)
	if err != nil || !ok {
		return nil, fmt.Errorf("remote: outbox %s: lock: %v", name, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		held.Release()
		return nil, fmt.Errorf("remote: outbox: %w", err)
	}
	return &outboxFile{path: f.Name(), lock: lk, f: f, held: held}, nil
}

// encodeItems frames items for an outbox file.
func encodeItems(items []item) ([]byte, error) {
	var buf []byte
	for i := range items {
		rec, err := record.Encode(&items[i].e)
		if err != nil {
			return nil, err
		}
		buf = record.AppendFrame(buf, encode(outboxPayload{Name: items[i].name, Record: rec, Uploaded: items[i].uploaded}))
	}
	return buf, nil
}

// decodeItems reads the records of an outbox file's bytes, skipping damaged
// ones and stopping at a torn tail.
func decodeItems(b []byte) []item {
	var out []item
	for len(b) > 0 {
		fr, err := record.ParseFrame(b)
		if err != nil {
			break // torn by a crash mid-write: what follows was never acknowledged
		}
		b = b[fr.N:]
		if !fr.CRCOK {
			continue
		}
		var p outboxPayload
		var e record.Entry
		if decodeSmall(fr.Payload, &p) != nil || record.Decode(p.Record, &e) != nil {
			continue
		}
		out = append(out, item{name: p.Name, e: e, uploaded: p.Uploaded})
	}
	return out
}

// append writes items to the file (one write: a crash keeps a prefix).
func (o *outboxFile) append(items []item) error {
	buf, err := encodeItems(items)
	if err != nil {
		return err
	}
	n, err := o.f.Write(buf)
	o.size += int64(n)
	if err != nil {
		return fmt.Errorf("remote: outbox %s: %w", o.path, err)
	}
	return nil
}

// empty drops what the file holds (all of it published), keeping it open
// for the records to come: one ftruncate instead of a new file and lock
// per batch. (Appends are O_APPEND: they go to the new end.)
func (o *outboxFile) empty() error {
	if err := o.f.Truncate(0); err != nil {
		return err
	}
	o.size = 0
	return nil
}

// done removes the file (its records are published) and lets it go.
func (o *outboxFile) done() {
	o.close()
	os.Remove(o.path)
	o.release()
	lock.RemoveIfFree(o.lock)
}

// release lets the file go, leaving it for a later Open to publish.
func (o *outboxFile) release() {
	o.close()
	if o.held != nil {
		o.held.Release()
		o.held = nil
	}
}

func (o *outboxFile) close() {
	if o.f != nil {
		o.f.Close()
		o.f = nil
	}
}

// maxReplay bounds the dead outbox files one process takes over at Open.
const maxReplay = 64

// claimDead takes over outbox files in dir that nobody holds (left by a
// process that crashed or ran out of time closing) and returns them with
// their records.
func (t *Tier) claimDead(dir string) ([]*outboxFile, []item) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			t.opts.Logger.Warn("pcache: remote outbox unreadable", "dir", dir, "err", err)
		}
		return nil, nil
	}
	var files []*outboxFile
	var items []item
	for _, ent := range ents {
		if len(files) >= maxReplay {
			break
		}
		if !strings.HasSuffix(ent.Name(), layout.OutboxExt) || !ent.Type().IsRegular() {
			continue
		}
		lk := t.d.OutboxLock(ent.Name())
		held, ok, err := lock.Try(lk, lock.Exclusive)
		if err != nil || !ok {
			continue // its writer is alive
		}
		path := filepath.Join(dir, ent.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			held.Release() // removed by whoever published it, or unreadable
			lock.RemoveIfFree(lk)
			continue
		}
		files = append(files, &outboxFile{path: path, lock: lk, held: held})
		items = append(items, decodeItems(b)...)
	}
	return files, items
}
