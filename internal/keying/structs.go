package keying

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// tagOpt is the key option of a `pcache:"name,option"` struct tag: how a
// present field's value is keyed. The drop option ,omitzero is kept apart
// (fieldInfo.omitzero), since it combines with ,hash and ,string.
type tagOpt uint8

const (
	optNone     tagOpt = iota
	optHash            // ,hash: key on the 32-byte Sum of the value
	optString          // ,string: key on fmt.Sprint(value)
	optOmitZero        // ,omitzero: drop while the value encodes like the zero value (only in parseTag; see fieldInfo.omitzero)
	optOut             // ,out: an out-file path, never part of a key
	optInstant         // ,instant: every time.Time in the value keyed by its instant alone
)

var tagOptNames = map[string]tagOpt{"hash": optHash, "string": optString, "omitzero": optOmitZero, "out": optOut, "instant": optInstant}

// fieldInfo is one field of a struct as keying sees it: a direct field or
// one promoted from an embedded struct.
type fieldInfo struct {
	name     string       // the key: the pcache tag's name, else the Go field name
	goPath   string       // Go selector path for error messages, e.g. "Common.Verbose"
	head     []byte       // canonical encoding of name
	index    []int        // reflect index path from the outer struct
	unexp    []bool       // per index step: the step is an unexported field
	typ      reflect.Type // the field's type
	ti       *typeInfo    // typeInfo of typ (nil for ignored fields)
	exported bool         // the field itself is exported
	ignored  bool         // tagged pcache:"-"
	opt      tagOpt       // optNone, optHash, optString, optInstant or optOut
	omitzero bool         // tagged ,omitzero: absent while it encodes like its type's zero value
	tag      string       // the raw pcache tag, for messages

	zeroOnce sync.Once
	zeroEnc  []byte
	zeroErr  error
}

// structInfo lists the fields of a struct type.
type structInfo struct {
	keyed    []*fieldInfo // fields that are encoded (not "-", not ",out"), sorted by head bytes
	all      []*fieldInfo // every field including ignored and out ones, in declaration order
	err      string       // layout error: bad tag, name collision, recursive embedding
	needAddr bool         // some field is reached through an unexported field
}

func buildStruct(t reflect.Type, pending map[reflect.Type]*typeInfo) *structInfo {
	st := &structInfo{}
	collectFields(t, nil, nil, "", []reflect.Type{t}, st, pending)
	if st.err != "" {
		return st
	}
	seen := map[string]*fieldInfo{}
	for _, f := range st.all {
		if f.ignored {
			continue
		}
		if g, ok := seen[f.name]; ok {
			st.err = fmt.Sprintf("fields %s and %s both have the key name %q; rename one with a pcache:\"name\" tag or tag one pcache:\"-\"", g.goPath, f.goPath, f.name)
			return st
		}
		seen[f.name] = f
		for _, u := range f.unexp {
			st.needAddr = st.needAddr || u
		}
		if f.opt != optOut {
			st.keyed = append(st.keyed, f)
		}
	}
	slices.SortFunc(st.keyed, func(a, b *fieldInfo) int { return bytes.Compare(a.head, b.head) })
	return st
}

// collectFields appends t's fields to st.all, promoting the fields of
// embedded structs (struct or pointer to struct, no pcache tag, keyed as a
// plain struct) the way Go promotes selectors.
func collectFields(t reflect.Type, index []int, unexp []bool, prefix string, chain []reflect.Type, st *structInfo, pending map[reflect.Type]*typeInfo) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Name == "_" {
			continue // blank fields are padding: never keyed
		}
		idx := append(index[:len(index):len(index)], i)
		un := append(unexp[:len(unexp):len(unexp)], !sf.IsExported())
		goPath := prefix + sf.Name
		tag, hasTag := sf.Tag.Lookup("pcache")
		if tag == "-" {
			st.all = append(st.all, &fieldInfo{name: sf.Name, goPath: goPath, index: idx, unexp: un, typ: sf.Type, exported: sf.IsExported(), ignored: true, tag: tag})
			continue
		}
		if sf.Anonymous && !hasTag {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if k, _ := classify(ft); k == kStruct {
					if slices.Contains(chain, ft) {
						st.err = fmt.Sprintf("field %s embeds %s inside itself", goPath, ft)
						return
					}
					collectFields(ft, idx, un, goPath+".", append(chain, ft), st, pending)
					if st.err != "" {
						return
					}
					continue
				}
			}
		}
		name, opt, omitzero, err := parseTag(tag)
		if err != "" {
			st.err = fmt.Sprintf("field %s: %s", goPath, err)
			return
		}
		if name == "" {
			name = sf.Name
		}
		if opt == optOut && sf.Type.Kind() != reflect.String {
			st.err = fmt.Sprintf("field %s: pcache:%q needs a string field, not %s", goPath, tag, sf.Type)
			return
		}
		if opt == optInstant && !holdsTime(sf.Type, map[reflect.Type]bool{}) {
			st.err = fmt.Sprintf("field %s: pcache:%q: values of type %s never hold a time.Time", goPath, tag, sf.Type)
			return
		}
		st.all = append(st.all, &fieldInfo{
			name: name, goPath: goPath, head: appendText(nil, name), index: idx, unexp: un,
			typ: sf.Type, ti: buildInfo(sf.Type, pending), exported: sf.IsExported(), opt: opt, omitzero: omitzero, tag: tag,
		})
	}
}

// parseTag splits a pcache tag into its name, its key option (hash, string
// or out) and its drop option (omitzero). Options may come in any order; a
// tag has at most one key option and at most one omitzero, and out takes no
// other option.
func parseTag(tag string) (name string, opt tagOpt, omitzero bool, problem string) {
	parts := strings.Split(tag, ",")
	name = parts[0]
	var keyOpt string
	for _, o := range parts[1:] {
		if o == "" {
			continue
		}
		v, ok := tagOptNames[o]
		if !ok {
			return "", 0, false, fmt.Sprintf("unknown option %q in tag pcache:%q (want hash, string, instant, omitzero or out)", o, tag)
		}
		if v == optOmitZero {
			if omitzero {
				return "", 0, false, fmt.Sprintf("tag pcache:%q has two drop rules (omitzero twice); a field takes at most one", tag)
			}
			omitzero = true
			continue
		}
		if opt != optNone {
			return "", 0, false, fmt.Sprintf("tag pcache:%q has two key rules, %s and %s; a field takes at most one", tag, keyOpt, o)
		}
		opt, keyOpt = v, o
	}
	if opt == optOut && omitzero {
		return "", 0, false, fmt.Sprintf("tag pcache:%q combines out with omitzero; an out-file field takes no other option", tag)
	}
	return name, opt, omitzero, ""
}

// holdsTime reports whether a value of type t can hold a time.Time that
// keying encodes (so that InstantArg or ,instant can change its key): t is
// time.Time, an interface, a type with its own CacheKey method, or is made of
// such types.
func holdsTime(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch k, _ := classify(t); k {
	case kTime, kIface, kHasher, kHasherPtr:
		return true
	case kPtr, kSeq:
		return holdsTime(t.Elem(), seen)
	case kMap:
		return holdsTime(t.Key(), seen) || holdsTime(t.Elem(), seen)
	case kStruct:
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.Tag.Get("pcache") != "-" && holdsTime(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// get returns the field's value in the struct value v, and false when an
// embedded nil pointer on the way means the field is absent. v must be
// addressable if the path has unexported steps.
func (f *fieldInfo) get(v reflect.Value) (reflect.Value, bool) {
	for n, i := range f.index {
		if n > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(i)
		if f.unexp[n] {
			v = exposed(v)
		}
	}
	return v, true
}

// zero returns the canonical encoding of the field type's zero value.
func (f *fieldInfo) zero() ([]byte, error) {
	f.zeroOnce.Do(func() {
		f.zeroEnc, f.zeroErr = marshal(reflect.Zero(f.typ).Interface())
	})
	return f.zeroEnc, f.zeroErr
}
