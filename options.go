package pcache

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/pcache/pcache/internal/engine"
	"github.com/pcache/pcache/internal/keying"
)

// StoreOption configures Open.
type StoreOption func(*storeOptions)

type storeOptions struct {
	eng     engine.Options // what the engine is opened with
	mode    Mode
	modeSet bool // DefaultMode was given: $PCACHE_MODE is not read
}

func defaultStoreOptions() storeOptions {
	return storeOptions{eng: engine.Options{Now: time.Now, Logger: slog.Default(), Unpublished: unpublished}}
}

// LockWait bounds how long a call waits for a lock another process holds,
// in place of the defaults: 3 minutes for the lock of a key another
// process is computing (then the call computes the key itself, and stores
// it), 1 minute at the gc turnstile while gc runs (then the computed result
// is returned without being stored, and the failure logged). The warning
// names the process holding the lock when the system says. A lock held
// forever (a hung or hostile process sharing the cache) costs one call that
// long: for the next such period, calls only try the lock and go on at once.
// d <= 0 keeps the defaults. The caller's context still ends any wait.
func LockWait(d time.Duration) StoreOption { return func(o *storeOptions) { o.eng.LockWait = d } }

// Durable makes every write fsync the object, the manifest record and their
// directories before a Call returns, so committed entries survive power loss,
// not only a crash of the process. It costs a few milliseconds per miss on
// most disks; without it a killed process still never leaves a torn entry.
func Durable() StoreOption { return func(o *storeOptions) { o.eng.Durable = true } }

// PackLimit sets the size below which results and out-file contents are
// appended to this process's pack file instead of written as files of their
// own (the default is cas.DefaultPackLimit, 64 KiB): packs make small misses
// and hits several times cheaper. PackLimit(0) stores every object as its
// own file, which b3sum can check by hand. Either way every object is read
// back verified, and caches hold both kinds.
func PackLimit(bytes int) StoreOption {
	return func(o *storeOptions) {
		if bytes <= 0 {
			bytes = -1
		}
		o.eng.PackLimit = bytes
	}
}

// ReadOnly opens the cache without ever writing to it: hits are served (out
// files restored to the paths asked for), misses are computed and not
// stored, and no lock that needs write access is taken. Open chooses this by
// itself for a directory this process cannot write (a team cache on a
// read-only mount, another user's cache).
func ReadOnly() StoreOption { return func(o *storeOptions) { o.eng.ReadOnly = true } }

// WithLogger sends the Store's log records to l: store failures and damaged
// cache files at Warn, read-only mode at Info. The default is slog.Default();
// WithLogger(nil) discards them. Each distinct warning (its message and the
// function it names) is logged once, then at most once a minute with a
// "repeated" count of the times it recurred meanwhile: a damaged file met
// at every refresh, or a full disk met by every call, is said once.
func WithLogger(l *slog.Logger) StoreOption {
	return func(o *storeOptions) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		o.eng.Logger = l
	}
}

// ReturnStoreErrors makes a failure to store a computed result an error of
// the call (wrapping the cause, with the computed result returned beside
// it). By default the result is returned with a nil error and the failure is
// counted (Stats.StoreErrors) and logged: a cache never costs the result.
func ReturnStoreErrors() StoreOption { return func(o *storeOptions) { o.eng.StrictStore = true } }

// Option configures Wrap and WrapBatch: key rules for arguments, the
// function's version and its result codec.
type Option func(*funcOptions) error

type funcOptions struct {
	rules      []keying.Rule
	version    string
	versionSet bool
	codec      Codec
	params     []string      // Params (memoizers only)
	expire     time.Duration // Expire: 0 never
	compress   int           // Compress: the zstd level of loose results; 0 raw
}

func rule(r keying.Rule) Option {
	return func(o *funcOptions) error {
		if r.Arg == "" {
			return fmt.Errorf("key rule %v with an empty argument name", r.Kind)
		}
		o.rules = append(o.rules, r)
		return nil
	}
}

// Ignore leaves the argument out of the key (verbosity flags, clients,
// loggers). Calls that differ only in ignored arguments share an entry.
func Ignore(arg string) Option { return rule(keying.Rule{Arg: arg, Kind: keying.RuleIgnore}) }

// HashArg keys the argument on StableHash(value) instead of the value, so a
// large argument contributes 32 bytes to the stored key.
func HashArg(arg string) Option { return rule(keying.Rule{Arg: arg, Kind: keying.RuleHash}) }

// StringArg keys the argument on fmt.Sprint(value).
func StringArg(arg string) Option { return rule(keying.Rule{Arg: arg, Kind: keying.RuleString}) }

// MapArg keys the argument on f(value). f must be deterministic. It
// composes with one drop rule (DropIfEqual, DropIf, omitzero) on the same
// argument: the argument is left out while the drop rule holds for its raw
// value, else keyed on f(value).
func MapArg(arg string, f func(any) (any, error)) Option {
	return rule(keying.Rule{Arg: arg, Kind: keying.RuleMap, Map: f})
}

// DropIfEqual omits the argument from the key while its value equals v.
// Adding a field with DropIfEqual(field, default) keeps every entry stored
// before the field existed. A v of another numeric type than the field is
// converted when exactly representable (DropIfEqual("Threshold", 0) on a
// float64 field drops 0.0); anything else that does not fit the field's
// type is refused by Wrap, naming the field and both types.
func DropIfEqual(arg string, v any) Option {
	return rule(keying.Rule{Arg: arg, Kind: keying.RuleDropIfEqual, Value: v})
}

// DropIf omits the argument from the key while pred(value) is true.
func DropIf(arg string, pred func(any) bool) Option {
	return rule(keying.Rule{Arg: arg, Kind: keying.RuleDropIf, Pred: pred})
}

// InstantArg keys every time.Time in the argument by its instant alone:
// times that are Equal share an entry whatever their zone (tag ,instant).
// By default a time that does not show UTC keys its zone too, since the
// function can tell two zones apart (t.Format, t.Hour).
func InstantArg(arg string) Option { return rule(keying.Rule{Arg: arg, Kind: keying.RuleInstant}) }

// OutFile marks a string argument as a path the function writes: a file,
// or a directory it creates and fills (a model checkpoint, a partitioned
// dataset). It is not part of the key; what the function wrote is cached
// and restored to the path a later call asks for (see Func.Call). The kind
// is told after the call: a directory's tree (names, permission bits,
// empty directories; each file an object of its own, stored once however
// many trees hold it) is restored whole, built beside the path and put in
// its place at once. A directory holding a link, device or fifo, or more
// than 1,000 files and directories, is not cached (the result is returned
// all the same).
func OutFile(arg string) Option { return rule(keying.Rule{Arg: arg, Kind: keying.RuleOut}) }

// Expire makes the function's entries expire d after they were stored: a
// call whose entry is older computes again and stores the new result (for
// results that go stale: an API response, a daily report). Explain says
// when an entry expired. It applies to the entries a call finds, wherever
// they were stored (another process, a copy, the remote); an expired entry
// no call asks for again leaves by gc's age and size limits (MaxAge,
// MaxSize, pcache-fsck gc -older-than), like any entry no one uses.
func Expire(d time.Duration) Option {
	return func(o *funcOptions) error {
		if d <= 0 {
			return fmt.Errorf("Expire(%v): want a positive duration", d)
		}
		if o.expire != 0 {
			return fmt.Errorf("Expire given twice (%v and %v)", o.expire, d)
		}
		o.expire = d
		return nil
	}
}

// Version is part of every key of the function: bump it when the function's
// meaning changes and old results must not be served.
func Version(v string) Option {
	return func(o *funcOptions) error {
		if o.versionSet {
			return fmt.Errorf("Version given twice (%q and %q)", o.version, v)
		}
		o.version, o.versionSet = v, true
		return nil
	}
}

// WithCodec stores results with c instead of the default CBOR codec. Entries
// written with another codec are misses for this function.
func WithCodec(c Codec) Option {
	return func(o *funcOptions) error {
		if c == nil || c.Name() == "" {
			return fmt.Errorf("WithCodec: codec must be non-nil and named")
		}
		o.codec = c
		return nil
	}
}
