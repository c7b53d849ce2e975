package keying

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

type badText struct{}

func (badText) MarshalText() ([]byte, error) {
	return nil, &fs.PathError{Op: "marshal", Path: "p", Err: fs.ErrInvalid}
}

type panicString struct{}

func (panicString) String() string { panic("no string") }

type base struct {
	Shared string
	hidden int
}

type viaUnexported struct {
	*base
	X int
}

func TestErrorAsAndIs(t *testing.T) {
	_, err := marshal([]any{badText{}})
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "marshal" {
		t.Errorf("errors.As did not reach the MarshalText error: %v", err)
	}
	if !errors.Is(err, fs.ErrInvalid) || !errors.Is(err, ErrUnkeyable) {
		t.Errorf("errors.Is: %v", err)
	}
	var ke *Error
	if !errors.As(err, &ke) || ke.Path != "value[0]" {
		t.Errorf("path: %v", err)
	}
}

func TestStringTagPanicsAreErrors(t *testing.T) {
	type s struct {
		P panicString `pcache:",string"`
	}
	_, err := marshal(s{})
	if err == nil || !strings.Contains(err.Error(), "no string") || !strings.Contains(err.Error(), "s.P") {
		t.Errorf("panicking String: %v", err)
	}
}

func TestPlanThroughUnexportedEmbedding(t *testing.T) {
	// Shared is promoted through an unexported embedded pointer; hidden is
	// unexported, so it must be tagged "-" to be left out: Compile says so.
	if _, err := Compile(reflect.TypeFor[viaUnexported](), nil); !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "base.hidden") {
		t.Fatalf("Compile: %v", err)
	}
	type ok struct {
		*base `pcache:"-"`
		X     int
	}
	p := compile[ok](t)
	if got := p.Args(); len(got) != 1 || got[0] != "X" {
		t.Errorf("Args = %v", got)
	}
	// Marshal keys nested unexported fields, through the embedded pointer.
	a := hexOf(t, viaUnexported{&base{"s", 1}, 2})
	b := hexOf(t, viaUnexported{&base{"s", 2}, 2})
	if a == b {
		t.Error("unexported promoted field not keyed")
	}
	if a != hexOf(t, map[string]any{"Shared": "s", "hidden": 1, "X": 2}) {
		t.Errorf("promotion through unexported embedding: %s", a)
	}
}

func TestPlanPromotedThroughUnexportedStruct(t *testing.T) {
	type inner struct{ A, B int }
	type args struct {
		inner
		C int
	}
	p := compile[args](t, Rule{Arg: "B", Kind: RuleIgnore})
	k1 := key(t, p, "", args{inner{1, 2}, 3})
	k2 := key(t, p, "", args{inner{1, 5}, 3})
	if k1.Hash != k2.Hash {
		t.Error("Ignore on a field promoted through an unexported embedded struct")
	}
	if d, _ := Diagnose(k1.Bytes); d != `[1, "", {"A": 1, "C": 3}]` {
		t.Errorf("key = %s", d)
	}
}

func TestStaticCheckPaths(t *testing.T) {
	type deep struct {
		M map[string][]*struct{ C chan int }
	}
	type keyed struct {
		M map[[1]uintptr]int
	}
	for _, tc := range []struct {
		t    reflect.Type
		path string
	}{
		{reflect.TypeFor[deep](), "deep.M[*][*].C"},
		{reflect.TypeFor[keyed](), "keyed.M[key *][*]"},
		{reflect.TypeFor[struct {
			S fmtStringFunc `pcache:",string"`
		}](), "value.S"},
	} {
		_, err := Compile(tc.t, nil)
		var ke *Error
		if !errors.As(err, &ke) || ke.Path != tc.path {
			t.Errorf("Compile(%v) = %v, want path %s", tc.t, err, tc.path)
		}
	}
	// Interfaces are only checked at Key time.
	type dyn struct{ X any }
	p := compile[dyn](t)
	if _, err := p.Key("", dyn{X: make(chan int)}); !errors.Is(err, ErrUnkeyable) {
		t.Errorf("chan behind an interface: %v", err)
	}
}

type fmtStringFunc func()
