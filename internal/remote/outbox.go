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
	"github.com/pcache/pcache/internal/manifest/record"
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

// Bounds of what one Open takes over from dead outbox files.
const (
	maxReplay      = 64        // files
	maxReplayScan  = 4096      // names looked at in the outbox directory
	maxOutboxFile  = 256 << 20 // bytes of one file; a larger one is left alone (logged)
	maxReplayBytes = 256 << 20 // bytes of all the files taken together
)

// claimDead takes over outbox files in dir that nobody holds (left by a
// process that crashed or ran out of time closing) and returns them with
// their records.
//
// Only this user's files are taken. The outbox is in the cache directory,
// which a team may share: a file another user put there is not something
// this user's process may publish with its credentials (a user without
// access to the bucket could otherwise have every other machine served a
// value of their choosing). Each file is opened like every cache file
// (O_NOFOLLOW, O_NONBLOCK: a link or a fifo is refused), and checked on
// the descriptor (fstat): a regular file, owned by this process's uid, of
// at most maxOutboxFile bytes. Other files are left alone (their writer's
// next Open publishes them), counted in Stats.ForeignOutbox and logged
// once.
func (t *Tier) claimDead(dir string) ([]*outboxFile, []item) {
	d, err := os.Open(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			t.opts.Logger.Warn("pcache: remote outbox unreadable", "dir", dir, "err", err)
		}
		return nil, nil
	}
	var ents []os.DirEntry
	for len(ents) < maxReplayScan {
		batch, err := d.ReadDir(256)
		ents = append(ents, batch...)
		if err != nil {
			break
		}
	}
	d.Close()
	var files []*outboxFile
	var items []item
	var bytes int64
	var foreign, refused int
	var foreignEx, refusedEx string
	for _, ent := range ents {
		if len(files) >= maxReplay || bytes >= maxReplayBytes {
			break
		}
		if !strings.HasSuffix(ent.Name(), layout.OutboxExt) {
			continue
		}
		path := filepath.Join(dir, ent.Name())
		if !ent.Type().IsRegular() {
			refused++
			refusedEx = path
			continue
		}
		f, fi, err := openRegular(path, maxOutboxFile)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) { // published by its writer just now
				refused++
				refusedEx = path
			}
			continue
		}
		if !ownedByMe(fi) {
			f.Close()
			foreign++
			foreignEx = fmt.Sprintf("%s (uid %d)", path, fileOwner(fi))
			continue
		}
		lk := t.d.OutboxLock(ent.Name())
		held, ok, err := lock.Try(lk, lock.Exclusive)
		if err != nil || !ok {
			f.Close()
			continue // its writer is alive
		}
		// Read through the descriptor checked above, now that the file is
		// ours (its writer appended through its own, now closed).
		b, err := readLimited(f, maxOutboxFile, fi.Size())
		f.Close()
		if err != nil || int64(len(b)) > maxOutboxFile {
			held.Release()
			lock.RemoveIfFree(lk)
			continue
		}
		bytes += int64(len(b))
		files = append(files, &outboxFile{path: path, lock: lk, held: held})
		items = append(items, decodeItems(b)...)
	}
	if foreign > 0 {
		t.stats.foreign.Add(int64(foreign))
		t.opts.Logger.Warn("pcache: remote outbox files written by another user left alone: only their writer publishes them", "count", foreign, "example", foreignEx, "uid", currentUID())
	}
	if refused > 0 {
		t.opts.Logger.Warn("pcache: remote outbox entries that are not regular files of at most 256 MiB left alone", "count", refused, "example", refusedEx)
	}
	return files, items
}
