package remote

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/zeebo/blake3"

	"github.com/pcache/pcache/internal/fsutil"
	"github.com/pcache/pcache/internal/manifest/record"
)

// Leases keep the machines of a team from computing one result at once. A
// machine about to compute a key its local cache and the remote index lack
// claims the key's lease, lease/<function>/<key>, with a create-only put;
// the lease says who holds it and until when. Another machine that finds
// the lease held waits for the entry to appear in the remote index instead
// of computing it too, until the lease expires (the holder crashed) or is
// released (its computation failed). The holder renews the lease while it
// computes, so a long computation keeps it; a successful one leaves it to
// expire (the entry it publishes is what the waiters wait for), and remote
// gc removes expired leases. Expiry compares the holder's clock with the
// waiter's: machines of a team keep their clocks in step (NTP).
//
// A lease is advice: any remote failure, or a tier that publishes nothing,
// means computing, as without one. Two machines that claim at the same
// moment both see the create-only put decide; at worst a result is
// computed twice, never served wrong.

const (
	// leaseTTL is how long a lease holds without renewal: how long waiters
	// wait for a holder that crashed.
	leaseTTL = time.Minute
	// leaseRenew is how often a holder renews its lease while it computes.
	leaseRenew = 20 * time.Second
	// maxLeaseBody bounds what a lease read may hold.
	maxLeaseBody = 1 << 10
)

// leaseBody is what a lease holds.
type leaseBody struct {
	Owner   string `cbor:"o"` // host.pid.random of the holder
	Start   int64  `cbor:"s"` // when it was claimed, unix nanoseconds
	Expires int64  `cbor:"e"` // unix nanoseconds
	Sum     []byte `cbor:"h"` // the first 8 bytes of the BLAKE3 of the fields above: a damaged lease holds nobody
}

// sum returns what Sum must be.
func (b leaseBody) sum() []byte {
	s := blake3.Sum256(fmt.Appendf(nil, "%s %d %d", b.Owner, b.Start, b.Expires))
	return s[:8]
}

// valid reports whether a lease read from the remote can hold anybody at
// now: undamaged, and expiring no later than a lease made now would (a
// clock far ahead, or a forged expiry, holds nobody for long).
func (b leaseBody) valid(now time.Time) bool {
	return b.Expires != 0 && bytes.Equal(b.Sum, b.sum()) && b.Expires <= now.Add(2*leaseTTL).UnixNano()
}

// sealed returns b with its sum.
func (b leaseBody) sealed() leaseBody {
	b.Sum = b.sum()
	return b
}

func leaseKey(name string, key [32]byte) string {
	sum := blake3.Sum256([]byte(name))
	return "lease/" + hex.EncodeToString(sum[:16]) + "/" + hex.EncodeToString(key[:])
}

// Lease is a claim on computing one key, held by this process.
type Lease struct {
	t    *Tier
	key  string
	body leaseBody
	stop chan struct{}
	once sync.Once
}

// Claim claims the lease of function name's key before this process
// computes it. It returns the lease (nil when no lease is needed or
// possible: compute), or held when another machine holds an unexpired
// lease: then wait for its entry with Await.
func (t *Tier) Claim(ctx context.Context, name string, key [32]byte) (l *Lease, held bool) {
	if t.pub == nil || t.ro.Load() || t.br.open() {
		return nil, false
	}
	k := leaseKey(name, key)
	for try := 0; try < 2; try++ {
		now := t.opts.Now()
		body := leaseBody{Owner: fsutil.Unique(), Start: now.UnixNano(), Expires: now.Add(leaseTTL).UnixNano()}.sealed()
		err := t.request(ctx, "claim a lease", func(ctx context.Context) error {
			return putBytes(ctx, t.b, k, encode(body), true)
		})
		if err == nil {
			l := &Lease{t: t, key: k, body: body, stop: make(chan struct{})}
			go l.renew()
			return l, false
		}
		if !errors.Is(err, ErrExists) {
			return nil, false // the remote fails: compute
		}
		other, ok := t.readLease(ctx, k)
		if ok && t.opts.Now().UnixNano() < other.Expires && !t.superseded(name, key, other.Start) {
			return nil, true
		}
		if !ok && ctx.Err() != nil {
			return nil, false
		}
		// Expired (its holder crashed) or unreadable: take it over. Two
		// machines doing so at once: the create-only put decides.
		t.request(ctx, "remove an expired lease", func(ctx context.Context) error { return t.b.Delete(ctx, k) })
	}
	return nil, false
}

// superseded reports whether the remote index holds a record of key (a
// result, a tombstone, a function-wide tombstone) made at or after start:
// the computation a lease claimed then is over, and what came of it has
// been published, or forgotten since. Such a lease stops nobody.
func (t *Tier) superseded(name string, key [32]byte, start int64) bool {
	fi, err := t.index(name)
	if err != nil {
		return false
	}
	r, ok := fi.m.Newest(key)
	if ok && r.Time >= start {
		return true
	}
	var of *record.Entry // what a forget of many must have forgotten: the key's entry, or (none known) every entry
	if ok {
		of = &r
	}
	return fi.m.ForgottenAt(of) >= start
}

// readLease reads a lease; ok is false when it is gone or does not decode.
func (t *Tier) readLease(ctx context.Context, k string) (leaseBody, bool) {
	var b leaseBody
	err := t.request(ctx, "read a lease", func(ctx context.Context) error {
		data, err := getAll(ctx, t.b, k, maxLeaseBody)
		if err != nil {
			return err
		}
		if decodeSmall(data, &b) != nil || !b.valid(t.opts.Now()) {
			b = leaseBody{}
		}
		return nil
	})
	return b, err == nil && b.Expires != 0
}

// renew extends the lease every leaseRenew until it is released.
func (l *Lease) renew() {
	tick := time.NewTicker(leaseRenew)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-l.t.bg.Done():
			return
		case <-tick.C:
		}
		body := leaseBody{Owner: l.body.Owner, Start: l.body.Start, Expires: l.t.opts.Now().Add(leaseTTL).UnixNano()}.sealed()
		l.t.request(l.t.bg, "renew a lease", func(ctx context.Context) error {
			return putBytes(ctx, l.t.b, l.key, encode(body), false)
		})
	}
}

// Release ends the lease. With computed (the entry is committed and queued
// for publishing) it is left to expire, since waiters wait for the entry;
// otherwise (the computation failed) it is removed, so a waiter computes
// at once.
func (l *Lease) Release(computed bool) {
	if l == nil {
		return
	}
	l.once.Do(func() {
		close(l.stop)
		if !computed {
			l.t.request(l.t.bg, "release a lease", func(ctx context.Context) error { return l.t.b.Delete(ctx, l.key) })
		}
	})
}

// Await waits for function name's key, whose lease another machine holds,
// to appear in the remote index, reading the index again at growing
// intervals (50 ms up to 2 s). It returns the entry, or false when the
// lease expired or was released first (the caller claims it or computes),
// or ctx ended.
func (t *Tier) Await(ctx context.Context, name string, key [32]byte) (record.Entry, bool) {
	k := leaseKey(name, key)
	poll := 50 * time.Millisecond
	for round := 0; ; round++ {
		timer := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			timer.Stop()
			return record.Entry{}, false
		case <-timer.C:
		}
		if e, ok := t.Lookup(ctx, name, key, true); ok {
			return e, true
		}
		if t.br.open() {
			return record.Entry{}, false // the remote fails: compute
		}
		if round%4 == 3 || poll >= time.Second {
			l, ok := t.readLease(ctx, k)
			if !ok || t.opts.Now().UnixNano() >= l.Expires || t.superseded(name, key, l.Start) {
				return record.Entry{}, false
			}
		}
		poll = min(2*poll, 2*time.Second)
	}
}

// gcLeases deletes the leases last written more than two lease lifetimes
// before now: their holders finished (a successful computation leaves its
// lease to expire), failed or crashed. It returns how many it deleted.
func gcLeases(ctx context.Context, b Backend, now time.Time) (int, error) {
	var old []string
	err := b.List(ctx, "lease/", func(key string, _ int64, modified time.Time) error {
		if now.Sub(modified) > 2*leaseTTL {
			old = append(old, key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range old {
		if err := b.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}
