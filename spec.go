package pcache

import (
	"reflect"

	"github.com/pcache/pcache/internal/codec"
	"github.com/pcache/pcache/internal/engine"
	"github.com/pcache/pcache/internal/keying"
	"github.com/pcache/pcache/internal/layout"
)

// compileSpec compiles what a wrap of one function needs before it has a
// Store: its name checked, options applied, result type checked against
// the codec, key plan compiled. Memoizers compile it when they are built
// (so mistakes fail at start-up) and bind it to the default Store on
// first use.
func compileSpec(name string, argType, resultType reflect.Type, rc Codec, opts []Option) (*engine.Spec, error) {
	if err := layout.CheckName(name); err != nil {
		return nil, errorf("wrap: %w", err)
	}
	var o funcOptions
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, errorf("wrap %q: %w", name, err)
		}
	}
	if o.params != nil {
		return nil, errorf("wrap %q: Params names the parameters of Memo2 and Memo3; a wrapped function's argument struct names its own fields", name)
	}
	if o.codec != nil {
		if resultType == reflect.TypeFor[Blob]() {
			return nil, errorf("wrap %q: a Blob result is stored as an object of its own and takes no codec", name)
		}
		rc = o.codec
	}
	if tc, ok := rc.(codec.TypeChecker); ok {
		if err := tc.CheckType(resultType); err != nil {
			return nil, errorf("wrap %q: result type %v: %w", name, resultType, err)
		}
	}
	plan, err := keying.Compile(argType, o.rules)
	if err != nil {
		return nil, errorf("wrap %q: %w", name, err)
	}
	return &engine.Spec{Name: name, Plan: plan, Version: o.version, Codec: rc, Type: keying.ResultFingerprint(resultType), Expire: o.expire, Zstd: o.compress}, nil
}

// bind compiles a wrap of function name and binds it to Store s.
func bind(s *Store, name string, argType, resultType reflect.Type, rc Codec, opts []Option) (*engine.Fn, error) {
	if s == nil {
		return nil, errorf("wrap %q: nil Store", name)
	}
	sp, err := compileSpec(name, argType, resultType, rc, opts)
	if err != nil {
		return nil, err
	}
	return s.e.Bind(sp)
}
