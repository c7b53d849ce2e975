package pcache

import (
	"fmt"

	"github.com/pcache/pcache/keying"
)

// Option configures Wrap and WrapBatch: key rules for arguments, the
// function's version and its result codec.
type Option func(*funcOptions) error

type funcOptions struct {
	rules      []keying.Rule
	version    string
	versionSet bool
	codec      Codec
}

func rule(r keying.Rule) Option {
	return func(o *funcOptions) error {
		if r.Arg == "" {
			return fmt.Errorf("key rule with an empty argument name")
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

// MapArg keys the argument on f(value). f must be deterministic.
func MapArg(arg string, f func(any) (any, error)) Option {
	return rule(keying.Rule{Arg: arg, Kind: keying.RuleMap, Map: f})
}

// DropIfEqual omits the argument from the key while its value equals v (by
// canonical encoding, so DropIfEqual("T", 0) matches an int64 field). Adding a
// field with DropIfEqual(field, default) keeps every entry stored before the
// field existed.
func DropIfEqual(arg string, v any) Option {
	return rule(keying.Rule{Arg: arg, Kind: keying.RuleDropIfEqual, Value: v})
}

// DropIf omits the argument from the key while pred(value) is true.
func DropIf(arg string, pred func(any) bool) Option {
	return rule(keying.Rule{Arg: arg, Kind: keying.RuleDropIf, Pred: pred})
}

// OutFile marks a string argument as a path the function writes. It is not
// part of the key; the file's contents are cached and restored to the path a
// later call asks for (see Func.Call).
func OutFile(arg string) Option { return rule(keying.Rule{Arg: arg, Kind: keying.RuleOut}) }

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
