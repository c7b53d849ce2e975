package keying

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// KeyFormat is the version of the key format: the first element of every
// key array. It changes whenever any encoding rule changes, so keys of
// different formats can never be confused.
const KeyFormat = 1

// MaxKeyBytes is the largest key encoding Key.Bytes keeps; a larger key keeps
// only its Hash.
const MaxKeyBytes = 64 << 10

// RuleKind says what a Rule does to its argument.
type RuleKind int

// The rule kinds. Each has a struct-tag form except RuleMap, RuleDropIfEqual
// (for values other than the zero value) and RuleDropIf.
const (
	RuleIgnore      RuleKind = iota + 1 // leave the argument out of the key; it is never read (tag pcache:"-")
	RuleHash                            // key on the 32-byte Sum of the value (tag ,hash)
	RuleString                          // key on fmt.Sprint(value) (tag ,string)
	RuleMap                             // key on Map(value)
	RuleDropIfEqual                     // drop while the value's canonical encoding equals Value's (tag ,omitzero for the zero value)
	RuleDropIf                          // drop while Pred(value) is true
	RuleOut                             // out-file path: a string argument that is not part of the key (tag ,out)
)

var ruleNames = [...]string{"", "Ignore", "HashArg", "StringArg", "MapArg", "DropIfEqual", "DropIf", "OutFile"}

// String returns the name of the pcache option that makes the rule, e.g.
// "HashArg".
func (k RuleKind) String() string {
	if k > 0 && int(k) < len(ruleNames) {
		return ruleNames[k]
	}
	return fmt.Sprintf("RuleKind(%d)", int(k))
}

// Rule is one per-argument key rule, the option form of the pcache struct
// tags.
type Rule struct {
	Arg   string                 // argument name (field name, or the name from a `pcache:"name"` tag)
	Kind  RuleKind               //
	Map   func(any) (any, error) // RuleMap: the value keyed instead of the argument
	Value any                    // RuleDropIfEqual: drop the argument while its canonical encoding equals Value's
	Pred  func(any) bool         // RuleDropIf: drop the argument while Pred returns true
}

func (r Rule) String() string { return fmt.Sprintf("%s(%q)", r.Kind, r.Arg) }

// Plan is a compiled argument plan: how values of one argument type become
// keys. It is immutable and safe for concurrent use.
type Plan struct {
	t        reflect.Type
	root     string
	ti       *typeInfo
	args     []*argPlan // keyed arguments, sorted by encoded name (struct types only)
	outs     []*argPlan // out-file arguments, in field order
	outNames []string
	needAddr bool
}

// argPlan is one keyed or out-file argument of a struct plan.
type argPlan struct {
	f    *fieldInfo
	kind RuleKind // 0: keyed as it is
	mapf func(any) (any, error)
	drop []byte // RuleDropIfEqual (also ,omitzero): the encoding that drops the argument
	pred func(any) bool
	from string // where the rule came from, for messages
}

// Key is the key of one call.
type Key struct {
	Hash  [32]byte // BLAKE3-256 of the canonical encoding of the array [KeyFormat, version, args]
	Bytes []byte   // that canonical encoding, or nil when it is larger than MaxKeyBytes (then only Hash is kept; the large parts were streamed into the hasher)
	Outs  []OutArg // the out-file arguments' values (not part of the key)
}

// OutArg is the value of one out-file argument.
type OutArg struct {
	Arg  string // argument name
	Path string // its value: the path the function writes
}

// Compile builds the plan for argument type t under rules. When t is a
// struct type (keyed as a plain struct: no CacheKey or MarshalText method,
// not time.Time or a math/big type), each exported field, including fields
// promoted from embedded structs, is one argument; rules and pcache tags
// apply to arguments by name. Any other type is keyed as a whole and takes no
// rules.
//
// Compile fails, naming the argument and the type, when a rule names no
// argument, when one argument has two rules (a tag and a Rule count as two),
// when a rule names an unexported field, when RuleOut is given to a field
// that is not a string, when a Rule lacks its Map, Pred or keyable Value, when
// an unexported field of t is not tagged pcache:"-" (unexported fields are
// not arguments and are never dropped silently), and when an argument's type
// can never be keyed (a func, chan, unsafe.Pointer, uintptr or complex
// inside it, not behind an interface) and has no Ignore, MapArg or OutFile
// rule. Rule errors unwrap to ErrInvalidRule, type errors to ErrUnkeyable.
func Compile(t reflect.Type, rules []Rule) (*Plan, error) {
	if t == nil {
		return nil, fmt.Errorf("keying: Compile: nil type: %w", ErrInvalidRule)
	}
	p := &Plan{t: t, root: rootName(t), ti: infoOf(t)}
	if p.ti.kind != kStruct {
		if len(rules) > 0 {
			return nil, fmt.Errorf("keying: %v: rule %v needs a struct argument type; %v is keyed as a whole: %w", t, rules[0], t, ErrInvalidRule)
		}
		if err := staticCheck(p.ti, map[*typeInfo]bool{}); err != nil {
			return nil, finish(err, p.root)
		}
		return p, nil
	}
	st := p.ti.st
	if st.err != "" {
		return nil, fmt.Errorf("keying: %v: %s: %w", t, st.err, ErrInvalidRule)
	}

	byName := map[string]*fieldInfo{}
	var names []string
	for _, f := range st.all {
		byName[f.name] = f
		if f.exported && !f.ignored {
			names = append(names, f.name)
		}
	}
	plans := map[*fieldInfo]*argPlan{}
	for _, f := range st.all {
		a := &argPlan{f: f}
		plans[f] = a
		switch {
		case f.ignored:
			a.kind, a.from = RuleIgnore, `tag pcache:"-"`
		case f.opt != optNone:
			a.from = fmt.Sprintf("tag pcache:%q", f.tag)
			switch f.opt {
			case optHash:
				a.kind = RuleHash
			case optString:
				a.kind = RuleString
			case optOut:
				a.kind = RuleOut
			case optOmitZero:
				a.kind = RuleDropIfEqual
				z, err := f.zero()
				if err != nil {
					return nil, fmt.Errorf("keying: %v: argument %q: tag pcache:%q: zero value: %w", t, f.name, f.tag, err)
				}
				a.drop = z
			}
		}
	}
	for _, r := range rules {
		f, ok := byName[r.Arg]
		if !ok {
			return nil, fmt.Errorf("keying: %v: rule %v: no argument named %q (arguments: %s): %w", t, r, r.Arg, strings.Join(names, ", "), ErrInvalidRule)
		}
		if !f.exported {
			return nil, fmt.Errorf("keying: %v: rule %v: field %s is unexported, so it is not an argument: %w", t, r, f.goPath, ErrInvalidRule)
		}
		a := plans[f]
		if a.kind != 0 {
			return nil, fmt.Errorf("keying: %v: argument %q has two key rules, %s and %v: %w", t, r.Arg, a.from, r, ErrInvalidRule)
		}
		a.kind, a.from = r.Kind, r.String()
		switch r.Kind {
		case RuleIgnore, RuleHash, RuleString:
		case RuleMap:
			if r.Map == nil {
				return nil, fmt.Errorf("keying: %v: rule %v has a nil Map function: %w", t, r, ErrInvalidRule)
			}
			a.mapf = r.Map
		case RuleDropIf:
			if r.Pred == nil {
				return nil, fmt.Errorf("keying: %v: rule %v has a nil Pred function: %w", t, r, ErrInvalidRule)
			}
			a.pred = r.Pred
		case RuleDropIfEqual:
			b, err := Marshal(r.Value)
			if err != nil {
				return nil, fmt.Errorf("keying: %v: rule %v: its value cannot be keyed: %w", t, r, err)
			}
			a.drop = b
		case RuleOut:
			if f.typ.Kind() != reflect.String {
				return nil, fmt.Errorf("keying: %v: rule %v: an out-file argument must be a string, not %v: %w", t, r, f.typ, ErrInvalidRule)
			}
		default:
			return nil, fmt.Errorf("keying: %v: rule %v: unknown rule kind %d: %w", t, r, int(r.Kind), ErrInvalidRule)
		}
	}

	for _, f := range st.all {
		a := plans[f]
		if !f.exported && a.kind != RuleIgnore {
			return nil, fmt.Errorf("keying: %v: unexported field %s is not an argument: tag it pcache:\"-\", or export it to key on it: %w", t, f.goPath, ErrInvalidRule)
		}
		for _, u := range f.unexp {
			p.needAddr = p.needAddr || (u && a.kind != RuleIgnore)
		}
		switch a.kind {
		case RuleIgnore:
			continue
		case RuleOut:
			p.outs = append(p.outs, a)
			p.outNames = append(p.outNames, f.name)
			continue
		case RuleMap:
			// The function's result is checked when it exists.
		case RuleString:
			if f.ti.kind == kBad {
				return nil, &Error{Path: p.root + "." + f.goPath, Type: f.typ, Reason: f.ti.bad + "; fmt.Sprint would print an address, so " + a.from + " cannot key it either"}
			}
		default:
			if err := staticCheck(f.ti, map[*typeInfo]bool{}); err != nil {
				err := finish(atField(err, f.goPath), p.root).(*Error)
				err.Reason += fmt.Sprintf(" (argument %q needs an Ignore, MapArg or OutFile rule, or a pcache:\"-\" tag)", f.name)
				return nil, err
			}
		}
		p.args = append(p.args, a)
	}
	slices.SortFunc(p.args, func(a, b *argPlan) int { return strings.Compare(string(a.f.head), string(b.f.head)) })
	return p, nil
}

// Type returns the argument type the plan was compiled for.
func (p *Plan) Type() reflect.Type { return p.t }

// Args returns the names of the arguments that can be part of a key (not
// ignored, not out-file), sorted as they appear in keys; nil when the
// argument type is keyed as a whole.
func (p *Plan) Args() []string {
	var names []string
	for _, a := range p.args {
		names = append(names, a.f.name)
	}
	return names
}

// OutArgs returns the names of the out-file arguments, in field order.
func (p *Plan) OutArgs() []string { return slices.Clone(p.outNames) }

// Key returns the key of the call whose argument value is v, which must have
// the plan's type. The key is the canonical encoding of the array
// [KeyFormat, version, args], where args is the canonical encoding of v with
// the plan's rules applied: for a struct type the map {argument name →
// value} of the arguments that are not ignored, out-file or dropped.
func (p *Plan) Key(version string, v any) (Key, error) {
	rv := reflect.ValueOf(v)
	if p.t.Kind() != reflect.Interface && (!rv.IsValid() || rv.Type() != p.t) {
		return Key{}, fmt.Errorf("keying: plan for %v: Key got a value of type %T", p.t, v)
	}
	e := getEncoder()
	defer putEncoder(e)
	e.limit, e.spill = MaxKeyBytes, &e.lh

	e.buf = append(e.buf, majArray|3, KeyFormat)
	e.buf = appendText(e.buf, version)
	var err error
	switch {
	case !rv.IsValid():
		e.buf = append(e.buf, cborNull)
	case p.ti.kind == kStruct:
		err = p.encodeArgs(e, rv)
	default:
		err = e.value(rv, infoOf(rv.Type()))
	}
	if err = finish(err, p.root); err != nil {
		return Key{}, err
	}
	var k Key
	if e.w == nil && len(e.buf) <= MaxKeyBytes {
		k.Bytes = append([]byte(nil), e.buf...)
	}
	if k.Hash, err = e.sum(); err != nil {
		return Key{}, fmt.Errorf("keying: hash: %w", err) // cannot happen: hashers do not fail
	}
	if len(p.outs) > 0 {
		k.Outs = make([]OutArg, len(p.outs))
		for i, a := range p.outs {
			k.Outs[i].Arg = a.f.name
			if fv, ok := a.f.get(addressableIf(rv, p.needAddr)); ok {
				k.Outs[i].Path = fv.String()
			}
		}
	}
	return k, nil
}

func addressableIf(v reflect.Value, need bool) reflect.Value {
	if need {
		return addressable(v)
	}
	return v
}

// presentArg is an argument that takes part in a key.
type presentArg struct {
	a *argPlan
	v reflect.Value
}

// encodeArgs appends the map {argument name → value} of a struct argument.
func (p *Plan) encodeArgs(e *encoder, v reflect.Value) error {
	v = addressableIf(v, p.needAddr)
	var small [16]presentArg
	present := small[:0]
	for _, a := range p.args {
		fv, ok := a.f.get(v)
		if !ok {
			continue
		}
		switch a.kind {
		case RuleDropIfEqual:
			eq, err := encodesAs(fv, a.f.ti, a.drop, 0)
			if err != nil {
				return atField(err, a.f.goPath)
			}
			if eq {
				continue
			}
		case RuleDropIf:
			drop, err := callPred(a.pred, fv.Interface())
			if err != nil {
				return atField(newWalkErr(a.f.typ, fmt.Sprintf("%s: %v", a.from, err), err), a.f.goPath)
			}
			if drop {
				continue
			}
		}
		present = append(present, presentArg{a, fv})
	}
	e.buf = appendHead(e.buf, majMap, uint64(len(present)))
	for _, pa := range present {
		a := pa.a
		e.buf = append(e.buf, a.f.head...)
		var err error
		switch a.kind {
		case RuleHash:
			err = e.hashOf(pa.v, a.f.ti)
		case RuleString:
			err = e.sprint(pa.v, a.f.ti)
		case RuleMap:
			var x any
			if x, err = callMap(a.mapf, pa.v.Interface()); err != nil {
				err = newWalkErr(a.f.typ, fmt.Sprintf("%s: %v", a.from, err), err)
			} else if err = e.any(x); err != nil {
				err = atSeg(err, ".MapArg()")
			}
		default:
			err = e.value(pa.v, a.f.ti)
		}
		if err != nil {
			return atField(err, a.f.goPath)
		}
		if err := e.check(); err != nil {
			return err
		}
	}
	return nil
}

func callMap(f func(any) (any, error), x any) (y any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f(x)
}

func callPred(f func(any) bool, x any) (b bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f(x), nil
}

// staticCheck reports the first type inside ti that can never be keyed,
// without looking behind interfaces or into types keyed by a method.
func staticCheck(ti *typeInfo, seen map[*typeInfo]bool) error {
	if seen[ti] {
		return nil
	}
	seen[ti] = true
	switch ti.kind {
	case kBad:
		return newWalkErr(ti.t, ti.bad, nil)
	case kPtr:
		return staticCheck(ti.elem, seen)
	case kSeq:
		return atSeg(staticCheck(ti.elem, seen), "[*]")
	case kMap:
		if err := staticCheck(ti.key, seen); err != nil {
			return atSeg(err, "[key *]")
		}
		return atSeg(staticCheck(ti.elem, seen), "[*]")
	case kStruct:
		if ti.st.err != "" {
			return newWalkErr(ti.t, ti.st.err, nil)
		}
		for _, f := range ti.st.keyed {
			if f.opt == optString {
				if f.ti.kind == kBad {
					return atField(newWalkErr(f.typ, f.ti.bad, nil), f.goPath)
				}
				continue
			}
			if err := staticCheck(f.ti, seen); err != nil {
				return atField(err, f.goPath)
			}
		}
	}
	return nil
}
