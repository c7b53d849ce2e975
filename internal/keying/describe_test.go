package keying

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDescribe(t *testing.T) {
	type args struct {
		Dataset string
		Epochs  int
		Rate    float64
		When    time.Time
		Tags    []string
		Weights []float64
		Blob    []byte
		Seed    int64 `pcache:",omitzero"`
	}
	p, err := Compile(reflect.TypeFor[args](), nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := p.Key("2", args{Dataset: "cifar", Epochs: 10, Rate: 0.5, When: time.Unix(1700000000, 5).UTC(),
		Tags: []string{"a", "b"}, Weights: []float64{1, -2.5}, Blob: make([]byte, 100)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Describe(k.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	got := d.String()
	for _, want := range []string{`version "2":`, `Dataset="cifar"`, `Epochs=10`, `Rate=0.5`, `When=2023-11-14T22:13:20.000000005Z`,
		`Tags=["a" "b"]`, `Weights=[1 -2.5]`, `Blob=h'0000000000000000…' (100 bytes)`} {
		if !strings.Contains(got, want) {
			t.Errorf("Describe = %s\nwant it to contain %s", got, want)
		}
	}
	if strings.Contains(got, "Seed") {
		t.Errorf("a dropped argument is rendered: %s", got)
	}

	k2, _ := p.Key("2", args{Dataset: "cifar", Epochs: 12, Rate: 0.5, When: time.Unix(1700000000, 5).UTC(),
		Tags: []string{"a", "b"}, Weights: []float64{1, -2.5}, Blob: make([]byte, 100), Seed: 7})
	d2, _ := Describe(k2.Bytes)
	diff := Diff(d2, d)
	if len(diff) != 2 || diff[0].String() != "Epochs: 12 (stored: 10)" || diff[1].String() != "Seed: 7 (stored: absent)" {
		t.Fatalf("Diff = %v", diff)
	}
	k3, _ := p.Key("3", args{Dataset: "cifar"})
	d3, _ := Describe(k3.Bytes)
	if diff := Diff(d3, d); diff[0].Name != "version" {
		t.Fatalf("Diff of versions = %v", diff)
	}

	// A function of one plain argument.
	pi, _ := Compile(reflect.TypeFor[int](), nil)
	ki, _ := pi.Key("", -42)
	if di, err := Describe(ki.Bytes); err != nil || di.String() != "-42" {
		t.Fatalf("Describe(int) = %q, %v", di.String(), err)
	}
	if _, err := Describe([]byte{0xff}); err == nil {
		t.Fatal("Describe of garbage succeeded")
	}
}

func FuzzDescribe(f *testing.F) {
	p, _ := Compile(reflect.TypeFor[struct{ A, B int }](), nil)
	k, _ := p.Key("v", struct{ A, B int }{1, 2})
	f.Add(k.Bytes)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Describe(b)
		if err == nil {
			_ = d.String()
			Diff(d, d)
		}
	})
}
