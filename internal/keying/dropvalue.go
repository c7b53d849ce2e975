package keying

import (
	"fmt"
	"math"
	"reflect"
)

// dropValue converts the Value of a RuleDropIfEqual to the type ft of its
// argument, so that the value compared is the one the argument would hold
// (DropIfEqual("Threshold", 0) on a float64 field compares with 0.0, not
// with the integer 0, whose encoding no float64 ever has). It returns the
// value to encode, or a problem saying why no value of type ft can equal x.
// The rules are the package doc's (Keys of calls, DropIfEqual values).
func dropValue(x any, ft reflect.Type) (any, string) {
	if x == nil {
		switch ft.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
			// The typed nil: a nil []byte encodes as 0x40, not as null.
			return reflect.Zero(ft).Interface(), ""
		}
		return nil, fmt.Sprintf("nil cannot be converted to the argument's type %v (only pointer, interface, slice and map arguments can be nil)", ft)
	}
	xv := reflect.ValueOf(x)
	if xv.Type() == ft {
		return x, ""
	}
	cv, problem := convertDropValue(xv, ft, ft)
	if problem != "" {
		return nil, problem
	}
	return cv.Interface(), ""
}

// convertDropValue converts xv to type to, for the argument type ft (named in
// problems).
func convertDropValue(xv reflect.Value, to, ft reflect.Type) (reflect.Value, string) {
	xt := xv.Type()
	if xt == to {
		return xv, ""
	}
	target := "the argument's type " + ft.String()
	if to != ft {
		target = fmt.Sprintf("%v, the pointee of the argument's type %v", to, ft)
	}
	switch k := to.Kind(); {
	case k == reflect.Interface:
		// An interface argument keys its dynamic value: the value is
		// compared as it is, if the argument can hold it at all.
		if !xt.Implements(to) {
			return reflect.Value{}, fmt.Sprintf("%v %s does not implement %s, so the argument never holds it", xt, showValue(xv), target)
		}
		iv := reflect.New(to).Elem()
		iv.Set(xv)
		return iv, ""
	case k == reflect.Pointer:
		// A non-nil pointer keys as its pointee.
		ev, problem := convertDropValue(xv, to.Elem(), ft)
		if problem != "" {
			return reflect.Value{}, problem
		}
		pv := reflect.New(to.Elem())
		pv.Elem().Set(ev)
		return pv, ""
	case isNumberKind(k) && isNumberKind(xt.Kind()):
		if v, ok := convertNumber(xv, to); ok {
			return v, ""
		}
		return reflect.Value{}, fmt.Sprintf("%v %s is not exactly representable as %s", xt, showValue(xv), target)
	case k == reflect.Bool && xt.Kind() == reflect.Bool, k == reflect.String && xt.Kind() == reflect.String:
		return xv.Convert(to), ""
	}
	return reflect.Value{}, fmt.Sprintf("%v %s cannot be converted to %s", xt, showValue(xv), target)
}

// isNumberKind reports whether k is an integer or float kind (not uintptr,
// not complex: those cannot be keyed).
func isNumberKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func isIntKind(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Int64
}

func isUintKind(k reflect.Kind) bool {
	return k >= reflect.Uint && k <= reflect.Uint64
}

const (
	two63 = 1 << 63 // as a float64: 2^63 exactly
	two64 = 1 << 64 // as a float64: 2^64 exactly
)

// convertNumber converts the number xv to the numeric type to when the
// result holds exactly the same value, and reports false otherwise.
func convertNumber(xv reflect.Value, to reflect.Type) (reflect.Value, bool) {
	out := reflect.New(to).Elem()
	tk := to.Kind()
	switch xk := xv.Kind(); {
	case isIntKind(xk):
		i := xv.Int()
		switch {
		case isIntKind(tk):
			if out.OverflowInt(i) {
				return out, false
			}
			out.SetInt(i)
		case isUintKind(tk):
			if i < 0 || out.OverflowUint(uint64(i)) {
				return out, false
			}
			out.SetUint(uint64(i))
		default:
			f := float64(i)
			if tk == reflect.Float32 {
				f = float64(float32(i))
			}
			if f < -two63 || f >= two63 || int64(f) != i {
				return out, false
			}
			out.SetFloat(f)
		}
	case isUintKind(xk):
		u := xv.Uint()
		switch {
		case isIntKind(tk):
			if u > math.MaxInt64 || out.OverflowInt(int64(u)) {
				return out, false
			}
			out.SetInt(int64(u))
		case isUintKind(tk):
			if out.OverflowUint(u) {
				return out, false
			}
			out.SetUint(u)
		default:
			f := float64(u)
			if tk == reflect.Float32 {
				f = float64(float32(u))
			}
			if f >= two64 || uint64(f) != u {
				return out, false
			}
			out.SetFloat(f)
		}
	default: // float
		f := xv.Float()
		switch {
		case isIntKind(tk):
			if f != math.Trunc(f) || f < -two63 || f >= two63 { // NaN and ±Inf fail too
				return out, false
			}
			i := int64(f)
			if out.OverflowInt(i) {
				return out, false
			}
			out.SetInt(i)
		case isUintKind(tk):
			if f != math.Trunc(f) || f < 0 || f >= two64 {
				return out, false
			}
			u := uint64(f)
			if out.OverflowUint(u) {
				return out, false
			}
			out.SetUint(u)
		case tk == reflect.Float32:
			if !math.IsNaN(f) && float64(float32(f)) != f { // every NaN keys alike
				return out, false
			}
			out.SetFloat(f)
		default:
			out.SetFloat(f)
		}
	}
	return out, true
}

// describeDropIfEqual renders a DropIfEqual rule with its value, e.g.
// DropIfEqual("Threshold", 1.5), for messages.
func describeDropIfEqual(r Rule) string {
	v := "nil"
	if r.Value != nil {
		v = showValue(reflect.ValueOf(r.Value))
	}
	return fmt.Sprintf("%s(%q, %s)", r.Kind, r.Arg, v)
}

// showValue renders a rule's value for a message, never failing: strings
// quoted, long renderings shortened.
func showValue(v reflect.Value) string { return renderKey(v) }
