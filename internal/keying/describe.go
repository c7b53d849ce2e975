package keying

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Described is a call's canonical key (Key.Bytes) taken apart for people:
// the version and each argument by name.
type Described struct {
	Format  uint64
	Version string
	// Args are the named arguments in name order; a function whose argument
	// is not a struct (or a map of strings) has one, with an empty Name.
	Args []Arg
}

// Arg is one argument of a described key.
type Arg struct {
	Name  string
	Value string // rendered: "cifar" in quotes, 10, [1 2 3], h'…' for bytes
	Raw   []byte // its canonical encoding (what is compared)
}

var describeMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		MaxNestedLevels: 256, MaxArrayElements: math.MaxInt32, MaxMapPairs: math.MaxInt32,
		DefaultMapType: nil, IntDec: cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(err) // constant options
	}
	return m
}()

// Describe takes canonical key bytes apart. It fails on bytes that are not
// a key (a damaged record).
func Describe(b []byte) (Described, error) {
	var top []cbor.RawMessage
	if err := describeMode.Unmarshal(b, &top); err != nil || len(top) != 3 {
		return Described{}, fmt.Errorf("keying: describe: not a key [format, version, args]")
	}
	var d Described
	if err := describeMode.Unmarshal(top[0], &d.Format); err != nil {
		return Described{}, fmt.Errorf("keying: describe: key format: %w", err)
	}
	if err := describeMode.Unmarshal(top[1], &d.Version); err != nil {
		return Described{}, fmt.Errorf("keying: describe: version: %w", err)
	}
	var named map[string]cbor.RawMessage
	if len(top[2]) > 0 && top[2][0]>>5 == 5 && describeMode.Unmarshal(top[2], &named) == nil {
		for name, raw := range named {
			d.Args = append(d.Args, Arg{Name: name, Value: renderRaw(raw), Raw: raw})
		}
		sort.Slice(d.Args, func(i, j int) bool { return d.Args[i].Name < d.Args[j].Name })
		return d, nil
	}
	d.Args = []Arg{{Value: renderRaw(top[2]), Raw: top[2]}}
	return d, nil
}

// String renders the arguments as Name=value pairs (Dataset="cifar"
// Epochs=10), after the version when there is one.
func (d Described) String() string {
	var b strings.Builder
	if d.Version != "" {
		fmt.Fprintf(&b, "version %q:", d.Version)
	}
	for i, a := range d.Args {
		if i > 0 || b.Len() > 0 {
			b.WriteByte(' ')
		}
		if a.Name != "" {
			b.WriteString(a.Name)
			b.WriteByte('=')
		}
		b.WriteString(a.Value)
	}
	if len(d.Args) == 0 && b.Len() == 0 {
		return "(no arguments)"
	}
	return b.String()
}

// Difference is one way two keys differ.
type Difference struct {
	Name string // the argument; "version" for the Version
	This string // its value in the first key ("" when absent)
	That string // in the second
}

func (d Difference) String() string {
	switch {
	case d.This == "":
		return fmt.Sprintf("%s: absent (stored: %s)", d.Name, d.That)
	case d.That == "":
		return fmt.Sprintf("%s: %s (stored: absent)", d.Name, d.This)
	}
	return fmt.Sprintf("%s: %s (stored: %s)", d.Name, d.This, d.That)
}

// Diff lists how key a differs from key b: the version, then each argument
// whose encoding differs or that only one of them has, by name.
func Diff(a, b Described) []Difference {
	var out []Difference
	if a.Version != b.Version {
		out = append(out, Difference{Name: "version", This: strconv.Quote(a.Version), That: strconv.Quote(b.Version)})
	}
	bm := map[string]Arg{}
	for _, x := range b.Args {
		bm[x.Name] = x
	}
	seen := map[string]bool{}
	for _, x := range a.Args {
		seen[x.Name] = true
		y, ok := bm[x.Name]
		switch {
		case !ok:
			out = append(out, Difference{Name: argLabel(x.Name), This: x.Value})
		case !bytes.Equal(x.Raw, y.Raw):
			out = append(out, Difference{Name: argLabel(x.Name), This: x.Value, That: y.Value})
		}
	}
	for _, y := range b.Args {
		if !seen[y.Name] {
			out = append(out, Difference{Name: argLabel(y.Name), That: y.Value})
		}
	}
	return out
}

func argLabel(name string) string {
	if name == "" {
		return "argument"
	}
	return name
}

// maxRendered bounds one rendered value.
const maxRendered = 120

// renderRaw renders one canonical CBOR item compactly.
func renderRaw(raw []byte) string {
	var v any
	if err := describeMode.Unmarshal(raw, &v); err != nil {
		return "h'" + hex.EncodeToString(raw) + "'"
	}
	s := render(v, 0)
	if len(s) > maxRendered {
		s = s[:maxRendered] + "…"
	}
	return s
}

func render(v any, depth int) string {
	if depth > 8 {
		return "…"
	}
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case string:
		return strconv.Quote(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case big.Int:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case []byte:
		return renderBytes(x)
	case []any:
		return renderList(len(x), func(i int) string { return render(x[i], depth+1) })
	case map[any]any:
		parts := make([]string, 0, len(x))
		for k, val := range x {
			parts = append(parts, render(k, depth+1)+": "+render(val, depth+1))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case cbor.Tag:
		return renderTag(x, depth)
	}
	return fmt.Sprint(v)
}

func renderBytes(b []byte) string {
	if len(b) <= 32 {
		return "h'" + hex.EncodeToString(b) + "'"
	}
	return fmt.Sprintf("h'%s…' (%d bytes)", hex.EncodeToString(b[:8]), len(b))
}

func renderList(n int, at func(int) string) string {
	const show = 8
	parts := make([]string, 0, min(n, show)+1)
	for i := 0; i < n && i < show; i++ {
		parts = append(parts, at(i))
	}
	if n > show {
		parts = append(parts, fmt.Sprintf("… %d in all", n))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// typedArrays are the RFC 8746 tags R12 uses: element width and kind.
var typedArrays = map[uint64]struct {
	width int
	kind  byte // 'i' signed, 'u' unsigned, 'f' float
}{
	72: {1, 'i'}, 77: {2, 'i'}, 78: {4, 'i'}, 79: {8, 'i'},
	69: {2, 'u'}, 70: {4, 'u'}, 71: {8, 'u'}, 85: {4, 'f'}, 86: {8, 'f'},
}

func renderTag(t cbor.Tag, depth int) string {
	if ta, ok := typedArrays[t.Number]; ok {
		if b, ok := t.Content.([]byte); ok && len(b)%ta.width == 0 {
			return renderList(len(b)/ta.width, func(i int) string {
				e := b[i*ta.width : (i+1)*ta.width]
				var u uint64
				switch ta.width {
				case 1:
					u = uint64(e[0])
				case 2:
					u = uint64(binary.LittleEndian.Uint16(e))
				case 4:
					u = uint64(binary.LittleEndian.Uint32(e))
				case 8:
					u = binary.LittleEndian.Uint64(e)
				}
				switch {
				case ta.kind == 'f' && ta.width == 4:
					return strconv.FormatFloat(float64(math.Float32frombits(uint32(u))), 'g', -1, 32)
				case ta.kind == 'f':
					return strconv.FormatFloat(math.Float64frombits(u), 'g', -1, 64)
				case ta.kind == 'i':
					shift := 64 - 8*ta.width
					return strconv.FormatInt(int64(u<<shift)>>shift, 10)
				}
				return strconv.FormatUint(u, 10)
			})
		}
	}
	switch t.Number {
	case 1001: // a time: {1: seconds, -9: nanoseconds, "zone": [offset, abbreviation, location]}
		if m, ok := t.Content.(map[any]any); ok {
			s, ns := asInt(m[uint64(1)]), asInt(m[int64(-9)])
			tm := time.Unix(s, ns).UTC()
			z, ok := m["zone"].([]any)
			if !ok || len(z) != 3 {
				return tm.Format(time.RFC3339Nano)
			}
			abbr, _ := z[1].(string)
			loc, _ := z[2].(string)
			return fmt.Sprintf("%s %s[%s]", tm.In(time.FixedZone(abbr, int(asInt(z[0])))).Format(time.RFC3339Nano), abbr, loc)
		}
	case 2, 3: // bignums
		if b, ok := t.Content.([]byte); ok {
			n := new(big.Int).SetBytes(b)
			if t.Number == 3 {
				n.Neg(n).Sub(n, big.NewInt(1))
			}
			return n.String()
		}
	}
	return fmt.Sprintf("%d(%s)", t.Number, render(t.Content, depth+1))
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case uint64:
		return int64(x)
	case int64:
		return x
	}
	return 0
}
