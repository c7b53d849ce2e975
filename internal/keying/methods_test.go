package keying

import (
	"testing"
	"time"
)

// Generic types: their methods are reached through dictionaries, which must
// not be mistaken for promoted methods.
type genOwn[T any] struct{ V T }

func (g genOwn[T]) CacheKey() (any, error) { return "own", nil }

type genEmbedOwn[T any] struct {
	keyedByName
	V T
}

func (g genEmbedOwn[T]) CacheKey() (any, error) { return "own", nil }

type genEmbedPromoted[T any] struct {
	keyedByName
	V T
}

type embedPtrKeyed struct {
	*ptrKeyed
	Extra int
}

type ownPtrOverPromoted struct {
	ptrKeyed
	Extra int
}

func (o *ownPtrOverPromoted) CacheKey() (any, error) { return "own ptr", nil }

type embedTimePtr struct {
	*time.Time
	Name string
}

func TestOwnVersusPromotedMethods(t *testing.T) {
	own := hexOf(t, "own")
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"generic own", genOwn[int]{1}, own},
		{"generic own over promoted", genEmbedOwn[int]{keyedByName{Name: "n"}, 1}, own},
		{"generic promoted", genEmbedPromoted[int]{keyedByName{Name: "n"}, 1}, hexOf(t, map[string]any{"V": 1, "keyedByName": "n"})},
		{"promoted through embedded pointer", embedPtrKeyed{&ptrKeyed{N: 1}, 2}, hexOf(t, map[string]any{"Extra": 2, "ptrKeyed": []any{"ptr", 1}})},
		{"own pointer method over promoted", ownPtrOverPromoted{ptrKeyed{N: 1}, 2}, hexOf(t, "own ptr")},
		{"promoted MarshalText through *time.Time", embedTimePtr{nil, "n"}, hexOf(t, map[string]any{"Name": "n", "Time": nil})},
	}
	for _, tt := range tests {
		if got := hexOf(t, tt.v); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}
