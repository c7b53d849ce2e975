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
// only its Hash (the same hash: its bytes are streamed into the hasher).
// Every entry's record carries the bytes kept (for pcache-fsck ls and
// Explain), so the limit bounds what a miss writes beside its result: a
// call keyed by a 13 KB file's contents wrote those 13 KB into the
// journal, and every compaction rewrote them, when the limit was 64 KiB.
const MaxKeyBytes = 4 << 10

// MaxKeyText is MaxKeyBytes as the messages that mention it say it.
const MaxKeyText = "4 KiB"

// RuleKind says what a Rule does to its argument.
type RuleKind int

// The rule kinds. Each has a struct-tag form except RuleMap, RuleDropIfEqual
// (for values other than the zero value) and RuleDropIf.
const (
	RuleIgnore      RuleKind = iota + 1 // leave the argument out of the key; it is never read (tag pcache:"-")
	RuleHash                            // key on the 32-byte Sum of the value (tag ,hash)
	RuleString                          // key on fmt.Sprint(value) (tag ,string)
	RuleMap                             // key on Map(value)
	RuleDropIfEqual                     // drop while the value's canonical encoding equals that of Value converted to the argument's type (tag ,omitzero for the zero value)
	RuleDropIf                          // drop while Pred(value) is true; a drop rule combines with one of RuleHash, RuleString, RuleMap
	RuleOut                             // out-file path: a string argument that is not part of the key (tag ,out)
	RuleInstant                         // key every time.Time in the value by its instant alone, not its zone (tag ,instant)
)

var ruleNames = [...]string{"", "Ignore", "HashArg", "StringArg", "MapArg", "DropIfEqual", "DropIf", "OutFile", "InstantArg"}

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
	Value any                    // RuleDropIfEqual: drop the argument while its canonical encoding equals Value's, Value converted exactly to the argument's type (see the package doc)
	Pred  func(any) bool         // RuleDropIf: drop the argument while Pred returns true
}

func (r Rule) String() string { return fmt.Sprintf("%s(%q)", r.Kind, r.Arg) }

// Plan is a compiled argument plan: how values of one argument type become
// keys. It is immutable and safe for concurrent use.
type Plan struct {
	t        reflect.Type
	root     string
	ti       *typeInfo  // the keyed type's info: t's, or S's when ptr
	ptr      bool       // t is *S for an argument struct S: Key dereferences one pointer
	args     []*argPlan // keyed arguments, sorted by encoded name (struct types only)
	outs     []*argPlan // out-file arguments, in field order
	outNames []string
	needAddr bool
}

// argPlan is one keyed or out-file argument of a struct plan. An argument
// has at most one key rule (kind) and at most one drop rule (drop); Ignore
// and OutFile (also in kind) exclude every other rule.
type argPlan struct {
	f    *fieldInfo
	kind RuleKind // 0: keyed as it is; RuleHash, RuleString, RuleMap, RuleInstant; or RuleIgnore, RuleOut
	from string   // where kind came from, for messages
	mapf func(any) (any, error)

	drop     RuleKind // 0, RuleDropIfEqual (also ,omitzero) or RuleDropIf
	dropFrom string   // where drop came from, for messages
	dropEnc  []byte   // RuleDropIfEqual: the encoding of the raw value that drops the argument
	pred     func(any) bool
}

// isDropRule reports whether k is a drop rule: one that decides whether the
// argument is part of the key, on its raw value.
func isDropRule(k RuleKind) bool { return k == RuleDropIfEqual || k == RuleDropIf }

// isExclusiveRule reports whether k takes no other rule on its argument.
func isExclusiveRule(k RuleKind) bool { return k == RuleIgnore || k == RuleOut }

// addRule records rule kind k (described by from) on a, refusing a second
// key rule, a second drop rule, and any rule next to Ignore or OutFile.
func (a *argPlan) addRule(t reflect.Type, k RuleKind, from string) error {
	if isDropRule(k) {
		switch {
		case a.drop != 0:
			return fmt.Errorf("keying: %v: argument %q has two drop rules, %s and %s; an argument takes at most one of DropIfEqual, DropIf and ,omitzero: %w", t, a.f.name, a.dropFrom, from, ErrInvalidRule)
		case isExclusiveRule(a.kind):
			return fmt.Errorf("keying: %v: argument %q has the rules %s and %s, but %v takes no other rule: %w", t, a.f.name, a.from, from, a.kind, ErrInvalidRule)
		}
		a.drop, a.dropFrom = k, from
		return nil
	}
	switch {
	case a.kind != 0:
		return fmt.Errorf("keying: %v: argument %q has two key rules, %s and %s: %w", t, a.f.name, a.from, from, ErrInvalidRule)
	case isExclusiveRule(k) && a.drop != 0:
		return fmt.Errorf("keying: %v: argument %q has the rules %s and %s, but %v takes no other rule: %w", t, a.f.name, a.dropFrom, from, k, ErrInvalidRule)
	}
	a.kind, a.from = k, from
	return nil
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
// apply to arguments by name. When t is a pointer *S to such a struct type,
// the plan is S's: every tag and rule works as for S, Key takes a *S, keys a
// non-nil one exactly as S's plan keys the struct it points to, and refuses
// a nil one (ErrNilArgument). Any other type is keyed as a whole and takes no
// rules.
//
// An argument takes at most one key rule (HashArg, StringArg, MapArg,
// InstantArg, tags ,hash, ,string and ,instant) and at most one drop rule (DropIfEqual, DropIf, tag
// ,omitzero); with both, the drop rule is evaluated on the raw value and the
// key rule keys the value when it is not dropped. Ignore and OutFile (tags
// "-" and ,out) take no other rule.
//
// Compile fails, naming the argument and the type, when a rule names no
// argument, when one argument has two key rules or two drop rules (a tag and
// a Rule count as two) or Ignore or OutFile next to another rule, when a rule
// names an unexported field, when RuleOut is given to a field that is not a
// string, when RuleInstant is given to one that cannot hold a time.Time, when a Rule lacks its Map, Pred or keyable Value, when a
// DropIfEqual value cannot be converted exactly to its argument's type (see
// the package doc), when an unexported field of t is not tagged pcache:"-"
// (unexported fields are not arguments and are never dropped silently), and
// when an argument's type can never be keyed (a func, chan, unsafe.Pointer,
// uintptr or complex inside it, not behind an interface) and has no Ignore,
// MapArg or OutFile rule. Rule errors unwrap to ErrInvalidRule, type errors
// to ErrUnkeyable.
func Compile(t reflect.Type, rules []Rule) (*Plan, error) {
	if t == nil {
		return nil, fmt.Errorf("keying: Compile: nil type: %w", ErrInvalidRule)
	}
	p := &Plan{t: t, root: rootName(t)}
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && infoOf(t.Elem()).kind == kStruct {
		// A pointer to an argument struct: the plan is the struct's.
		p.ptr, p.ti = true, infoOf(t.Elem())
	} else {
		p.ti = infoOf(t)
	}
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
	c := newArgCompile(t, st)
	if err := c.fromTags(); err != nil {
		return nil, err
	}
	for _, r := range rules {
		if err := c.applyRule(r); err != nil {
			return nil, err
		}
	}
	if err := p.addArgs(c); err != nil {
		return nil, err
	}
	slices.SortFunc(p.args, func(a, b *argPlan) int { return strings.Compare(string(a.f.head), string(b.f.head)) })
	return p, nil
}

// argCompile is the state of compiling the arguments of one struct type:
// its fields by name and the argPlan of each field.
type argCompile struct {
	t      reflect.Type
	st     *structInfo
	byName map[string]*fieldInfo // every field, exported or not
	names  []string              // the arguments a rule may name, for messages
	plans  map[*fieldInfo]*argPlan
}

// newArgCompile indexes the fields of st (the struct info of t) by name.
func newArgCompile(t reflect.Type, st *structInfo) *argCompile {
	c := &argCompile{t: t, st: st, byName: map[string]*fieldInfo{}, plans: map[*fieldInfo]*argPlan{}}
	for _, f := range st.all {
		c.byName[f.name] = f
		if f.exported && !f.ignored {
			c.names = append(c.names, f.name)
		}
	}
	return c
}

// fromTags makes the argPlan of every field from its pcache tag: the key
// rule it names and, for ,omitzero, the encoding of the zero value to drop.
func (c *argCompile) fromTags() error {
	for _, f := range c.st.all {
		a := &argPlan{f: f}
		c.plans[f] = a
		if f.ignored {
			a.kind, a.from = RuleIgnore, `tag pcache:"-"`
			continue
		}
		from := fmt.Sprintf("tag pcache:%q", f.tag)
		switch f.opt {
		case optHash:
			a.kind, a.from = RuleHash, from
		case optString:
			a.kind, a.from = RuleString, from
		case optOut:
			a.kind, a.from = RuleOut, from
		case optInstant:
			a.kind, a.from = RuleInstant, from
		}
		if f.omitzero {
			z, err := f.zero()
			if err != nil {
				return fmt.Errorf("keying: %v: argument %q: tag pcache:%q: zero value: %w", c.t, f.name, f.tag, err)
			}
			a.drop, a.dropFrom, a.dropEnc = RuleDropIfEqual, from, z
		}
	}
	return nil
}

// applyRule adds option rule r to the argPlan of the argument it names,
// checking that the argument exists and takes it and that r is complete.
func (c *argCompile) applyRule(r Rule) error {
	t := c.t
	f, ok := c.byName[r.Arg]
	if !ok {
		return fmt.Errorf("keying: %v: rule %v: no argument named %q (arguments: %s): %w", t, r, r.Arg, strings.Join(c.names, ", "), ErrInvalidRule)
	}
	if !f.exported {
		return fmt.Errorf("keying: %v: rule %v: field %s is unexported, so it is not an argument: %w", t, r, f.goPath, ErrInvalidRule)
	}
	if r.Kind < RuleIgnore || r.Kind > RuleInstant {
		return fmt.Errorf("keying: %v: rule %v: unknown rule kind %d: %w", t, r, int(r.Kind), ErrInvalidRule)
	}
	a := c.plans[f]
	if err := a.addRule(t, r.Kind, r.String()); err != nil {
		return err
	}
	switch r.Kind {
	case RuleMap:
		if r.Map == nil {
			return fmt.Errorf("keying: %v: rule %v has a nil Map function: %w", t, r, ErrInvalidRule)
		}
		a.mapf = r.Map
	case RuleDropIf:
		if r.Pred == nil {
			return fmt.Errorf("keying: %v: rule %v has a nil Pred function: %w", t, r, ErrInvalidRule)
		}
		a.pred = r.Pred
	case RuleDropIfEqual:
		if _, err := marshal(r.Value); err != nil {
			return fmt.Errorf("keying: %v: rule %v: its value cannot be keyed: %w", t, r, err)
		}
		x, problem := dropValue(r.Value, f.typ)
		if problem != "" {
			return fmt.Errorf("keying: %v: %s: %s: %w", t, describeDropIfEqual(r), problem, ErrInvalidRule)
		}
		b, err := marshalAs(x, f.typ)
		if err != nil {
			return fmt.Errorf("keying: %v: %s: the value converted to the argument's type %v cannot be keyed: %w", t, describeDropIfEqual(r), f.typ, err)
		}
		a.dropEnc = b
	case RuleOut:
		if f.typ.Kind() != reflect.String {
			return fmt.Errorf("keying: %v: rule %v: an out-file argument must be a string, not %v: %w", t, r, f.typ, ErrInvalidRule)
		}
	case RuleInstant:
		if !holdsTime(f.typ, map[reflect.Type]bool{}) {
			return fmt.Errorf("keying: %v: rule %v: values of the argument's type %v never hold a time.Time: %w", t, r, f.typ, ErrInvalidRule)
		}
	}
	return nil
}

// addArgs puts c's argPlans into p in field order (keyed arguments in args,
// out-file ones in outs), refusing an unexported field that is not ignored
// and an argument whose value, as its rules key it, can never be keyed.
func (p *Plan) addArgs(c *argCompile) error {
	t := c.t
	for _, f := range c.st.all {
		a := c.plans[f]
		if !f.exported && a.kind != RuleIgnore {
			return fmt.Errorf("keying: %v: unexported field %s is not an argument: tag it pcache:\"-\", or export it to key on it: %w", t, f.goPath, ErrInvalidRule)
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
		}
		// The raw value is encoded when it is keyed as it is, hashed, or
		// compared by DropIfEqual; a MapArg result is checked when it
		// exists, and StringArg only needs fmt.Sprint to be meaningful.
		if a.kind == RuleString && f.ti.kind == kBad {
			return &Error{Path: p.root + "." + f.goPath, Type: f.typ, Reason: f.ti.bad + "; fmt.Sprint would print an address, so " + a.from + " cannot key it either"}
		}
		if a.kind != RuleMap && a.kind != RuleString || a.drop == RuleDropIfEqual {
			if err := staticCheck(f.ti, map[*typeInfo]bool{}); err != nil {
				err := finish(atField(err, f.goPath), p.root).(*Error)
				if a.drop == RuleDropIfEqual && (a.kind == RuleMap || a.kind == RuleString) {
					err.Reason += fmt.Sprintf(" (%s compares the encoding of argument %q itself; use DropIf instead)", a.dropFrom, f.name)
				} else {
					err.Reason += fmt.Sprintf(" (argument %q needs an Ignore, MapArg or OutFile rule, or a pcache:\"-\" tag)", f.name)
				}
				return err
			}
		}
		p.args = append(p.args, a)
	}
	return nil
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
// value} of the arguments that are not ignored, out-file or dropped. For a
// plan of a pointer to an argument struct, v is a *S: a nil one is an error
// unwrapping to ErrNilArgument, a non-nil one has the key (Hash, Bytes and
// Outs) that the plan of S gives the struct it points to.
func (p *Plan) Key(version string, v any) (Key, error) {
	return p.KeyValue(version, reflect.ValueOf(v))
}

// KeyValue is Key of the value rv holds (an interface-kind rv stands for
// its dynamic value, as v does in Key). Callers that hold the argument in
// memory of their own (a batch's slice) key it through
// reflect.ValueOf(&x).Elem() without boxing it into an interface: one
// allocation fewer per call.
func (p *Plan) KeyValue(version string, rv reflect.Value) (Key, error) {
	if rv.Kind() == reflect.Interface {
		rv = rv.Elem()
	}
	if p.t.Kind() != reflect.Interface && (!rv.IsValid() || rv.Type() != p.t) {
		got := "<nil>"
		if rv.IsValid() {
			got = rv.Type().String()
		}
		return Key{}, fmt.Errorf("keying: plan for %v: Key got a value of type %s", p.t, got)
	}
	if p.ptr {
		if rv.IsNil() {
			return Key{}, fmt.Errorf("keying: argument is a nil %v: %w", p.t, ErrNilArgument)
		}
		rv = rv.Elem()
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
	case p.t.Kind() == reflect.Interface:
		err = e.dynamic(rv) // the argument is held in an interface: R1
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
		// A drop rule looks at the raw value, before any key rule.
		switch a.drop {
		case RuleDropIfEqual:
			eq, err := encodesAs(fv, a.f.ti, a.dropEnc, 0, false)
			if err != nil {
				return atField(err, a.f.goPath)
			}
			if eq {
				continue
			}
		case RuleDropIf:
			drop, err := callPred(a.pred, fv.Interface())
			if err != nil {
				return atField(newWalkErr(a.f.typ, fmt.Sprintf("%s: %v", a.dropFrom, err), err), a.f.goPath)
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
		case RuleInstant:
			err = e.instantValue(pa.v, a.f.ti)
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
