package outfile

import (
	"fmt"
	"slices"
	"testing"
)

func TestWithPath(t *testing.T) {
	t.Parallel()
	pr := func(p string, m int64) pathRecord { return pathRecord{Path: p, MtimeNs: m, Size: 1} }
	many := func(n int) []pathRecord {
		var out []pathRecord
		for i := range n {
			out = append(out, pr(fmt.Sprint("/p", i), 1))
		}
		return out
	}
	tests := []struct {
		name        string
		paths       []pathRecord
		add         pathRecord
		want        []pathRecord
		wantChanged bool
	}{
		{"empty", nil, pr("/a", 1), []pathRecord{pr("/a", 1)}, true},
		{"append", []pathRecord{pr("/a", 1)}, pr("/b", 2), []pathRecord{pr("/a", 1), pr("/b", 2)}, true},
		{"same as last", []pathRecord{pr("/a", 1), pr("/b", 2)}, pr("/b", 2), []pathRecord{pr("/a", 1), pr("/b", 2)}, false},
		{"refresh last", []pathRecord{pr("/a", 1), pr("/b", 2)}, pr("/b", 3), []pathRecord{pr("/a", 1), pr("/b", 3)}, true},
		{"move to end", []pathRecord{pr("/a", 1), pr("/b", 2)}, pr("/a", 1), []pathRecord{pr("/b", 2), pr("/a", 1)}, true},
		{"duplicates dropped", []pathRecord{pr("/a", 1), pr("/b", 2), pr("/a", 5)}, pr("/a", 6), []pathRecord{pr("/b", 2), pr("/a", 6)}, true},
		{"trim", many(MaxPaths), pr("/new", 1), append(many(MaxPaths)[1:], pr("/new", 1)), true},
		{"trim overlong", many(3 * MaxPaths), pr("/p0", 1), append(many(3 * MaxPaths)[2*MaxPaths+1:], pr("/p0", 1)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := record{Paths: slices.Clone(tt.paths)}
			out, changed := withPath(in, tt.add)
			if !slices.Equal(out.Paths, tt.want) || changed != tt.wantChanged {
				t.Fatalf("withPath = %v, %v\nwant        %v, %v", out.Paths, changed, tt.want, tt.wantChanged)
			}
			if !slices.Equal(in.Paths, tt.paths) {
				t.Fatal("input modified")
			}
			if len(out.Paths) > 0 && len(in.Paths) > 0 && &out.Paths[0] == &in.Paths[0] {
				t.Fatal("result shares the input's array")
			}
		})
	}
}
