package engine

import (
	"context"

	"github.com/pcache/pcache/internal/manifest/record"
)

// writable says why the function's entries cannot be changed now (op names
// what was asked): a read-only or closed Store, or a context that ended.
func (c *Fn) writable(ctx context.Context, op string) error {
	err := c.e.storable()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return Errorf("%s: %s: %w", c.name, op, err)
	}
	return nil
}

// Forget records a tombstone of k (and of its legacy key, if an entry
// written before result types were keyed is there).
func (c *Fn) Forget(ctx context.Context, k *CallKey) error {
	if err := c.writable(ctx, "forget"); err != nil {
		return err
	}
	hs := [][32]byte{k.Hash}
	if e, ok, _ := c.m.Peek(k.Legacy); ok && e.Type == ([32]byte{}) {
		hs = append(hs, k.Legacy)
	}
	tombs := make([]record.Entry, len(hs))
	for i, h := range hs {
		tombs[i] = record.Entry{KeyHash: h, Deleted: true}
	}
	if err := c.m.Append(tombs...); err != nil {
		return Errorf("%s: forget: %w", c.name, err)
	}
	c.publish(tombs)
	return nil
}

// ForgetAll records a function-wide tombstone.
func (c *Fn) ForgetAll(ctx context.Context) error {
	if err := c.writable(ctx, "forget all"); err != nil {
		return err
	}
	// Only this result type's entries (and those that recorded none): a
	// function of the same name with another result type is another's.
	tomb := record.ForgetTypes(c.fp)
	if err := c.m.Append(tomb...); err != nil {
		return Errorf("%s: forget all: %w", c.name, err)
	}
	c.publish(tomb)
	return nil
}
